"""Decodes once in every shape and variant a server's requests can take, so that no request
waits on a compile (a new program of `decode.generate` compiles while the whole batch waits).

`decode.generate` compiles one program per rows bucket (the batch), prompt bucket (the
longest prompt), loop length (`steps`), streamed or not, and with prompt logprobs or not.
What warm-up covers, so that any request the API accepts hits a compiled program:
- rows: every power of two up to `max_batch`; prompts: every bucket of 1..max_context tokens
  (max_context itself only when scoring: max_tokens 0 with echo).
- steps: a batch's largest max_new_tokens rounds up to the generator's `step_buckets`, which
  warm-up sets to the powers of two of the given max_tokens values (the server's default and
  `warmup_max_tokens`) plus the largest one a request can reach, that of max_context - 1. So
  the listed max_tokens values run in a loop of their own size, any other in the next listed
  size up or the largest: a longer KV cache than it needs (attention reads all of it), never
  a compile. Covering every power of two instead would multiply the compiles by up to
  log2(max_context).
- stops: every batch's stop sequences share one layout (`decode.STOP_SEQUENCES` sequences of
  `decode.STOP_TOKENS` tokens; the API refuses longer stop strings), stops or none.
- greedy or sampled, new tokens' logprobs or not (chat logprobs/top_logprobs, completions
  logprobs, best_of > n): runtime conditions of one program, the branch not taken costs
  nothing; any k uses one top-k width (`logprobs.MAX_TOP`). Computing logprobs always was
  measured and refused: on CPU, greedy steps of 8 rows of the 2-layer test model at a
  vocabulary of 32000 take 0.53 ms without them and 1.3-1.5 ms with (the top-k over the
  vocabulary); the same 0.53 ms before and after the switch to runtime conditions.
- prompt logprobs (echo with logprobs, max_tokens 0 included: lm-eval's scoring) stay a
  static variant: they need the prefill's [rows, prompt, vocab] logits, which a decode
  without them never computes.
So each shape is decoded in 4 variants: streamed or not, with prompt logprobs or not.
Requests mixed into one batch take the union, which is one of these.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

from pinchjax.infer.decode import MIN_BUCKET, bucket
from pinchjax.infer.generator import Generator, Request



@dataclasses.dataclass(frozen=True)
class Shape:
  rows: int  # requests decoded together
  prompt: tuple[int, int]  # a prompt length in [lo, hi] (start token included) ...
  steps: int  # ... and the loop's length


def _buckets(lo: int, hi: int, minimum: int = 1) -> list[int]:
  """The buckets of the integers in [lo, hi]: the powers of two from lo's to hi's."""
  out, b = [], bucket(lo, minimum)
  while b <= bucket(hi, minimum):
    out.append(b)
    b *= 2
  return out


def step_buckets(max_context: int, max_new_tokens: Sequence[int]) -> tuple[int, ...]:
  """The loop lengths warm-up compiles: those of `max_new_tokens` and the largest reachable."""
  top = bucket(max_context - 1, 1)
  return tuple(sorted({min(bucket(t, 1), top) for t in max_new_tokens} | {top}))


def shapes(max_context: int, max_batch: int, max_new_tokens: Sequence[int]) -> list[Shape]:
  """The shapes of `decode.generate` that batches of up to `max_batch` requests reach, each
  asking for any max_tokens the API accepts (0 with echo) within max_context, the loop
  rounded up to `step_buckets(max_context, max_new_tokens)`."""
  ladder = step_buckets(max_context, max_new_tokens)
  rows = sorted({min(bucket(n, 1), max_batch) for n in range(1, max_batch + 1)})
  out = []
  for n in rows:
    for p in _buckets(1, max_context, MIN_BUCKET):
      lo, hi = (1 if p == MIN_BUCKET else p // 2 + 1), min(p, max_context)
      # The largest limit comes from the batch's shortest prompt: any length up to `hi`
      # when rows mix, the bucket's own lengths for one row.
      room = max_context - (lo if n == 1 else 1)
      steps = {min(s for s in ladder if s >= b) for b in _buckets(1, max(room, 1))}
      out += [Shape(n, (lo, hi), s) for s in sorted(steps)]
  return out


def prompt_of_length(generator: Generator, lo: int, hi: int) -> str:
  """A prompt that encodes to between `lo` and `hi` tokens."""
  text = lambda k: " ".join(["x"] * k)
  k = 1
  while generator.count_tokens(text(k)) <= hi:
    k *= 2
  low, high = 0, k  # count(low) <= hi < count(high)
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (mid, high) if generator.count_tokens(text(mid)) <= hi else (low, mid)
  if generator.count_tokens(text(low)) < lo:
    raise ValueError(f"no prompt of 'x' words encodes to {lo}..{hi} tokens")
  return text(low)


def warm_up(generator: Generator, max_batch: int, max_new_tokens: Sequence[int]) -> int:
  """Sets the generator's `step_buckets` and decodes every shape of `shapes` in every variant;
  logs progress. Returns the number of decodes."""
  generator.step_buckets = step_buckets(generator.max_context, max_new_tokens)
  todo = shapes(generator.max_context, max_batch, max_new_tokens)
  prompts = {s.prompt: prompt_of_length(generator, *s.prompt) for s in todo}
  variants = [(stream, prompt_logprobs) for stream in (False, True)
              for prompt_logprobs in (None, 0)]
  total, done, start = len(todo) * len(variants), 0, time.monotonic()
  logging.info("warm-up: %d decodes (up to %d rows, %d tokens of context, loops of "
               "%s steps)", total, max_batch, generator.max_context, generator.step_buckets)
  for shape in todo:
    for stream, prompt_logprobs in variants:
      # The fewest new tokens in the loop's bucket: the loop ends when the rows are done.
      request = Request(prompts[shape.prompt], shape.steps // 2 + 1,
                        on_text=(lambda *piece: None) if stream else None,
                        prompt_logprobs=prompt_logprobs)
      generator.generate([request] * shape.rows)
      done += 1
      logging.info("warm-up %d/%d: %d rows, prompt %d-%d tokens, %d steps%s%s (%.1f s)",
                   done, total, shape.rows, *shape.prompt, shape.steps,
                   ", streamed" if stream else "",
                   "" if prompt_logprobs is None else ", prompt logprobs",
                   time.monotonic() - start)
  return total
