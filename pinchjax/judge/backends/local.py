"""A pinchjax checkpoint as the judge, scored rather than sampled.

The judge prompt ends with its answer prefix ("[["), and the verdict is read from the
probabilities of the next token being A, B or C (renormalised over the three). Both orders of
an instruction are rows of the same batched forward pass
(pinchjax.infer.decode.score_next_token_logprobs), so P(candidate wins) with the candidate in
slot A and in slot B come from one code path and can be compared directly.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import gin
import numpy as np

from pinchjax.infer import decode
from pinchjax.infer import loading
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.judge import prompts
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base

# Verdict letters after the answer prefix, and the slot verdict each stands for.
LETTERS = (("A", V.A), ("B", V.B), ("C", V.TIE))


class LocalBackend(base.Backend):
  """Judges with a loaded model; `name` identifies the checkpoint in verdicts and the cache."""

  def __init__(self, generator: JaxGenerator, name: str, batch_size: int = 16):
    if batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    self.generator = generator
    self.name = name
    self.batch_size = batch_size
    self._batches = 0

  @property
  def judge_id(self) -> str:
    return f"local:{self.name}"

  def params(self) -> dict[str, Any]:
    return {"method": "next_token_verdict_probs"}

  def prompt_tokens(self, game: base.Game, prompt: prompts.JudgePrompt) -> list[int]:
    text = self.generator.chat_prompt(
        prompt.messages(game.instruction, game.response_a, game.response_b, game.lang))
    return self.generator.encode(text + prompt.answer_prefix)

  def _verdict_ids(self, prompt_text: str) -> list[int]:
    """The token each verdict letter becomes right after `prompt_text` (which ends with the
    answer prefix); an error if the tokenizer merges a letter with the prefix."""
    stem = self.generator.encode(prompt_text)
    ids = []
    for letter, _ in LETTERS:
      full = self.generator.encode(prompt_text + letter)
      if len(full) != len(stem) + 1 or full[:-1] != stem:
        raise ValueError(f"the tokenizer does not encode verdict letter {letter!r} as one "
                         "token after the answer prefix; use a prompt whose prefix ends "
                         "where a token boundary falls")
      ids.append(full[-1])
    return ids

  def judge(self, games: Sequence[base.Game], prompt: prompts.JudgePrompt,
            on_answer: base.OnAnswer) -> None:
    if not prompt.answer_prefix or prompt.scale != 3:
      raise ValueError(f"the local judge needs a 3-level prompt with an answer prefix (e.g. "
                       f"sxs-direct-v1), not {prompt.prompt_id!r}")
    probe = self.generator.chat_prompt(prompt.messages("x", "y", "z", games[0].lang))
    ids = self._verdict_ids(probe + prompt.answer_prefix)
    for start in range(0, len(games), self.batch_size):
      chunk = games[start:start + self.batch_size]
      logp = decode.score_next_token_logprobs(
          self.generator.model, [self.prompt_tokens(g, prompt) for g in chunk], ids,
          sharding=self.generator.sharding)
      self._batches += 1
      for offset, row in enumerate(np.asarray(logp, np.float64)):
        on_answer(start + offset, _answer(row))

  def stats(self) -> dict[str, Any]:
    return {"batches": self._batches, "batch_size": self.batch_size}


def _answer(logp: np.ndarray) -> base.Answer:
  """The verdict with the highest probability among the three letters."""
  mass = np.exp(logp)
  probs = mass / mass.sum()
  best = int(np.argmax(probs))
  named = {verdict: float(p) for (_, verdict), p in zip(LETTERS, probs)}
  raw = " ".join(f"P({letter})={p:.4f}" for (letter, _), p in zip(LETTERS, probs))
  raw += f" mass={mass.sum():.4f}"  # how much of the judge's belief the letters hold
  verdict = LETTERS[best][1]
  return base.Answer(raw, verdict, strength=0 if verdict == V.TIE else 1, probs=named)


@gin.configurable
def local_backend(checkpoint: str = gin.REQUIRED, template: str | None = None,
                  batch_size: int = 16, name: str | None = None) -> LocalBackend:
  """Loads a checkpoint (Hugging Face directory or pinchjax training checkpoint) as a judge."""
  generator = loading.load_generator(checkpoint, template=template)
  return LocalBackend(generator, name or os.path.abspath(checkpoint), batch_size)
