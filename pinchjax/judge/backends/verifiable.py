"""A deterministic judge for tasks with a checker (the toy world).

The checker `(record, response) -> bool` says whether a response is right *and* in the
instruction's language. A response that passes beats one that fails; two passes or two
fails tie. It never depends on slot order, so its games are always position-consistent.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import gin

from pinchjax.judge import prompts
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base

Checker = Callable[[Mapping[str, Any], str], bool]


@gin.configurable
class VerifiableBackend(base.Backend):
  # A checker reads answer keys the cache key does not cover, and costs nothing to rerun.
  cacheable = False

  def __init__(self, checker: Checker = gin.REQUIRED, name: str | None = None):
    """`checker`: a callable; in gin a reference to a registered function
    (`@pinchjax.data.toyworld.checkers.check`). `name` defaults to its import path."""
    if not callable(checker):
      raise ValueError(f"VerifiableBackend.checker must be a function (a gin reference such "
                       f"as @pinchjax.data.toyworld.checkers.check), got {checker!r}")
    self._checker = checker
    self._name = name or (f"{checker.__module__}.{checker.__qualname__}"
                          if hasattr(checker, "__qualname__") else type(checker).__name__)

  @property
  def judge_id(self) -> str:
    return f"verifiable:{self._name}"

  def judge(self, games: Sequence[base.Game], prompt: prompts.JudgePrompt,
            on_answer: base.OnAnswer) -> None:
    del prompt  # a checker reads no prompt
    for i, game in enumerate(games):
      a = bool(self._checker(game.record_a, game.response_a))
      b = bool(self._checker(game.record_b, game.response_b))
      verdict = V.TIE if a == b else (V.A if a else V.B)
      raw = f"checker: A {'passes' if a else 'fails'}, B {'passes' if b else 'fails'}"
      on_answer(i, base.Answer(raw, verdict, strength=0 if verdict == V.TIE else 1))
