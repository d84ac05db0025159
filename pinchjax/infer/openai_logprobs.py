"""Logprobs in OpenAI's two response shapes.

Chat: `{"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}`.
Completions (the legacy shape): parallel lists `tokens`, `token_logprobs`, `top_logprobs`
(text -> logprob; with the chosen token added, as vLLM does; where two tokens read the
same, e.g. pieces of one character, the likelier one) and `text_offset`, each token's
character offset in the choice's `text`. With echo the prompt's tokens come first, the first
without a logprob when nothing came before it.
"""
from __future__ import annotations

from typing import Any, Sequence

from pinchjax.infer.generator import Completion, TokenLogprob

# JSON has no -inf; vLLM reports this floor instead.
_FLOOR = -9999.0


def _lp(value: float | None) -> float | None:
  return None if value is None else max(value, _FLOOR)


def _bytes(text: str) -> list[int]:
  return list(text.encode("utf-8"))


def chat(tokens: Sequence[TokenLogprob], k: int) -> dict[str, Any]:
  return {"content": [
      {"token": t.text, "logprob": _lp(t.logprob), "bytes": _bytes(t.text),
       "top_logprobs": [{"token": a, "logprob": _lp(lp), "bytes": _bytes(a)}
                        for a, lp in t.top[:k]]} for t in tokens]}


def legacy(completion: Completion, echo: bool, k: int) -> dict[str, Any]:
  return legacy_tokens((list(completion.prompt_logprobs) if echo else []) +
                       list(completion.logprobs), k)


def legacy_tokens(tokens: Sequence[TokenLogprob], k: int, start: int = 0) -> dict[str, Any]:
  """The legacy shape of `tokens`, the first at character `start` of the choice's text."""
  offsets, at = [], start
  for t in tokens:
    offsets.append(at)
    at += len(t.text)
  tops = []
  for t in tokens:
    if t.logprob is None:
      tops.append(None)
      continue
    top: dict[str, float] = {}
    for text, lp in t.top[:k] + ((t.text, t.logprob),):
      top.setdefault(text, _lp(lp))  # texts can coincide (bytes of one character): keep the best
    tops.append(top)
  return {"tokens": [t.text for t in tokens], "token_logprobs": [_lp(t.logprob) for t in tokens],
          "top_logprobs": tops, "text_offset": offsets}
