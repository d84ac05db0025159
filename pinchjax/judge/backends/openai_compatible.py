"""A judge model behind any OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI).

Requests go through the shared client (pinchjax.clients.openai_compat): bounded concurrency,
retries with backoff on connection errors, timeouts, 429 and 5xx, none on other 4xx, greedy
decoding with a fixed seed. A request that still fails is an answerless game (counted as a
failure, not cached, retried by the next run); an answer without a readable verdict is a
parse error.
"""
from __future__ import annotations

from typing import Any, Sequence

import gin

from pinchjax.clients import openai_compat as oc
from pinchjax.judge import prompts
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base


@gin.configurable
class OpenAICompatibleBackend(base.Backend):
  """`client`: the server, model and request settings, held as given. In gin it is the
  judge's own scope of ClientConfig (gin/judges/openai_compatible.gin:
  `OpenAICompatibleBackend.client = @judge/ClientConfig()`), so a study can point its
  translator (`translator/ClientConfig`) and its judge at different servers. Judging is
  greedy: a client with another temperature is refused."""

  def __init__(self, client: oc.ClientConfig = gin.REQUIRED):
    if client.temperature != 0.0:
      raise ValueError(f"the judge decodes greedily: ClientConfig.temperature must be 0.0, "
                       f"got {client.temperature}")
    self.config = client
    self._stats = oc.ClientStats()

  @property
  def judge_id(self) -> str:
    # The model, not the URL: the same model on another host or port answers the same.
    return f"openai_compatible:{self.config.model}"

  def params(self) -> dict[str, Any]:
    return {"temperature": self.config.temperature, "seed": self.config.seed,
            "max_tokens": self.config.max_tokens, "extra_body": dict(self.config.extra_body)}

  def judge(self, games: Sequence[base.Game], prompt: prompts.JudgePrompt,
            on_answer: base.OnAnswer) -> None:
    def answer(index: int, result: oc.Result) -> None:
      if isinstance(result, oc.Completion):
        parsed = V.parse(result.text, prompt.scale)
        on_answer(index, base.Answer(result.text, parsed.verdict, parsed.strength,
                                     parsed.error))
      else:
        on_answer(index, base.Answer(None, None, error=f"{type(result).__name__}: {result}"))

    requests = [prompt.messages(g.instruction, g.response_a, g.response_b, g.lang)
                for g in games]
    oc.run_chats(self.config, requests, on_result=answer, stats=self._stats)

  def stats(self) -> dict[str, Any]:
    return self._stats.as_dict()
