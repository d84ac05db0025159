"""Training features for a decoder-only model, with sequence packing (numpy).

Names and layout follow seqio's DecoderFeatureConverter (prefix-LM with loss on targets only):

  decoder_target_tokens  the example's tokens: prompt ("inputs") then response + EOS (with a
                         tokenizer's jinja template: response + its end-of-turn marker)
  decoder_input_tokens   the targets shifted right by one within each segment; a segment's
                         first input is the start token (chat.start_id: BOS, or 0; with a
                         jinja template the first token it renders, e.g. <|im_start|>)
  decoder_loss_weights   1 exactly where the target is a response token or EOS, else 0
  decoder_segment_ids    1, 2, ... per packed example; 0 on padding
  decoder_positions      0, 1, ... restarting at each segment; 0 on padding

All arrays are int32 [rows, length]. A model must let a token attend only to earlier tokens
with the same segment id (segment ids are contiguous, so causal + equal-segment is enough).
Unpacked rows carry segment ids and positions too (one segment), so a trainer sees one layout.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights",
            "decoder_segment_ids", "decoder_positions")


def join_example(inputs: np.ndarray, targets: np.ndarray, length: int
                 ) -> tuple[np.ndarray, int] | None:
  """Prompt + response tokens cut to `length`, and the prompt's length.

  None when no response token survives the cut (the example would teach nothing); callers
  count those.
  """
  n_inputs = len(inputs)
  if n_inputs >= length or len(targets) == 0:
    return None
  tokens = np.concatenate([inputs, targets])[:length].astype(np.int32)
  return tokens, n_inputs


def empty_rows(rows: int, length: int) -> dict[str, np.ndarray]:
  return {k: np.zeros((rows, length), np.int32) for k in FEATURES}


def fill_row(batch: dict[str, np.ndarray], row: int,
             segments: Sequence[tuple[np.ndarray, int]], start_id: int) -> None:
  """Writes packed segments (tokens, prompt length) into row `row` of `batch` in place."""
  pos = 0
  for seg_id, (tokens, n_inputs) in enumerate(segments, 1):
    n = len(tokens)
    end = pos + n
    if end > batch["decoder_target_tokens"].shape[1]:
      raise ValueError(f"segments of {end} tokens overflow a row of "
                       f"{batch['decoder_target_tokens'].shape[1]}")
    batch["decoder_target_tokens"][row, pos:end] = tokens
    batch["decoder_input_tokens"][row, pos] = start_id
    batch["decoder_input_tokens"][row, pos + 1:end] = tokens[:-1]
    batch["decoder_loss_weights"][row, pos + n_inputs:end] = 1
    batch["decoder_segment_ids"][row, pos:end] = seg_id
    batch["decoder_positions"][row, pos:end] = np.arange(n, dtype=np.int32)
    pos = end


def pack_greedy(lengths: Sequence[int], length: int, rows: int, pack: bool = True
                ) -> list[list[int]]:
  """Groups consecutive examples into at most `rows` rows of at most `length` tokens.

  Returns the example indices (into `lengths`) of each filled row, in order; an example that
  does not fit starts the next row (order is never changed, so a stream position is a batch
  boundary). Without packing each row holds one example. Stops when `lengths` runs out.
  """
  out, i = [], 0
  while len(out) < rows and i < len(lengths):
    row, used = [], 0
    while i < len(lengths) and used + lengths[i] <= length and (pack or not row):
      row.append(i)
      used += lengths[i]
      i += 1
    if not row:
      raise ValueError(f"example of {lengths[i]} tokens is longer than the row ({length})")
    out.append(row)
  return out
