"""The text-level interface the server and `pinchjax infer` drive: requests in, completions out.

A `Generator` owns a tokenizer, a chat template and a decoder; the server only sees this
interface, so it can be exercised with a stand-in and run over any decoder.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Protocol, Sequence

from pinchjax.infer.sampling import SamplingParams


@dataclasses.dataclass(frozen=True)
class Request:
  """One prompt to complete: text exactly as the model sees it (template applied; the
  generator puts its start token before it), or token ids the model reads as they are.

  With `on_text`, the generator also streams: it calls `on_text` with pieces of the answer as
  they are decoded, whose concatenation is the final `Completion.text`; with `logprobs` too,
  as on_text(piece, tokens), `tokens` the `TokenLogprob`s that piece completes (the last
  call may bring only tokens, with an empty piece).
  `logprobs` = k asks for each new token's logprob and its k most likely alternatives;
  `prompt_logprobs` the same for the prompt's tokens. max_new_tokens 0 only scores the prompt.
  """
  prompt: str | tuple[int, ...]
  max_new_tokens: int
  sampling: SamplingParams = SamplingParams()
  stop: tuple[str, ...] = ()
  on_text: Callable[..., None] | None = dataclasses.field(default=None, compare=False)
  logprobs: int | None = None
  prompt_logprobs: int | None = None


@dataclasses.dataclass(frozen=True)
class TokenLogprob:
  """One token with its log-probability under the model's raw distribution. `text` is what
  the token adds to the text before it (pieces join to the text); `top` the most likely
  tokens at its place as (text, logprob)."""
  text: str
  logprob: float | None  # None: the prompt's first token, which nothing predicts
  top: tuple[tuple[str, float], ...] = ()


@dataclasses.dataclass(frozen=True)
class Completion:
  text: str
  finish_reason: str  # "stop" (EOS or a stop string) or "length" (max_new_tokens reached)
  prompt_tokens: int
  completion_tokens: int
  # When asked for: the new tokens (up to and including the stop token or the tokens of the
  # stop string that ended the answer, as vLLM reports them) and the prompt's tokens.
  logprobs: list[TokenLogprob] | None = None
  prompt_logprobs: list[TokenLogprob] | None = None
  prompt_text: str = ""  # the prompt as text (token prompts: as they decode), for echo

  @property
  def cumulative_logprob(self) -> float:
    """The sum over the new tokens' logprobs (what best_of ranks by)."""
    if self.logprobs is None:
      raise ValueError("the completion was generated without logprobs")
    return sum(t.logprob for t in self.logprobs)


class Generator(Protocol):
  """What a server or a writer needs from a loaded model."""
  max_context: int  # prompt tokens + new tokens must fit
  # The decode loop lengths a batch's largest max_new_tokens rounds up to (empty: its power
  # of two); warm-up sets them to those it compiled.
  step_buckets: tuple[int, ...]

  def count_tokens(self, prompt: str | Sequence[int]) -> int:
    """Tokens the model reads for a prompt; ValueError for ids outside the vocabulary."""
    ...

  def count_stop_tokens(self, stop: str) -> int:
    """Tokens of the sequence a stop string is matched by while decoding."""
    ...

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    """The prompt text for OpenAI-style chat messages ({role, content})."""
    ...

  def generate(self, requests: Sequence[Request]) -> list[Completion]:
    """Completes a batch; each completion depends only on its own request."""
    ...


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
  """Cuts `text` before the earliest stop string; says whether one was found."""
  cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
  return (text[:cut], True) if cut >= 0 else (text, False)


def held_back(text: str, stop: Sequence[str]) -> int:
  """How many trailing characters of a partial answer must wait: the start of a stop string
  (it may still be completed and cut) or an incomplete character (U+FFFD from split bytes)."""
  hold = len(text) - len(text.rstrip("\ufffd"))
  for s in stop:
    for k in range(min(len(s) - 1, len(text)), 0, -1):
      if text.endswith(s[:k]):
        hold = max(hold, k)
        break
  return hold
