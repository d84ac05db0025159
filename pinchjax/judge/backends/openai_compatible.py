"""A judge model behind any OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI).

Requests go through the shared client (pinchjax.clients.openai_compat): bounded concurrency,
retries with backoff on connection errors, timeouts, 429 and 5xx, none on other 4xx, greedy
decoding with a fixed seed. A request that still fails is an answerless game (counted as a
failure, not cached, retried by the next run); an answer without a readable verdict is a
parse error.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import gin

from pinchjax.clients import openai_compat as client
from pinchjax.judge import prompts
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base


@gin.configurable
class OpenAICompatibleBackend(base.Backend):
  """Args mirror pinchjax.clients.openai_compat.ClientConfig; the judge's own bindings, so a
  study can point its translator and its judge at different servers."""

  def __init__(self, base_url: str = gin.REQUIRED, model: str = gin.REQUIRED,
               api_key_env: str | None = None, max_concurrency: int = 8,
               max_retries: int = 4, timeout_s: float = 120.0, seed: int = 0,
               max_tokens: int | None = 1024, extra_body: Mapping[str, Any] | None = None,
               backoff_base_s: float = 0.5):
    self.config = client.ClientConfig(
        base_url=base_url, model=model, api_key_env=api_key_env,
        max_concurrency=max_concurrency, max_retries=max_retries, timeout_s=timeout_s,
        backoff_base_s=backoff_base_s, seed=seed, temperature=0.0, max_tokens=max_tokens,
        extra_body=dict(extra_body or {}))
    self._stats = client.ClientStats()

  @property
  def judge_id(self) -> str:
    # The model, not the URL: the same model on another host or port answers the same.
    return f"openai_compatible:{self.config.model}"

  def params(self) -> dict[str, Any]:
    return {"temperature": self.config.temperature, "seed": self.config.seed,
            "max_tokens": self.config.max_tokens, "extra_body": dict(self.config.extra_body)}

  def judge(self, games: Sequence[base.Game], prompt: prompts.JudgePrompt,
            on_answer: base.OnAnswer) -> None:
    def answer(index: int, result: client.Result) -> None:
      if isinstance(result, client.Completion):
        parsed = V.parse(result.text, prompt.scale)
        on_answer(index, base.Answer(result.text, parsed.verdict, parsed.strength,
                                     parsed.error))
      else:
        on_answer(index, base.Answer(None, None, error=f"{type(result).__name__}: {result}"))

    requests = [prompt.messages(g.instruction, g.response_a, g.response_b, g.lang)
                for g in games]
    client.run_chats(self.config, requests, on_result=answer, stats=self._stats)

  def stats(self) -> dict[str, Any]:
    return self._stats.as_dict()
