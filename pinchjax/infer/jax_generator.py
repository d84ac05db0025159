"""`JaxGenerator`: the `Generator` over a pinchjax model, a seqio vocabulary and a chat template.

Prompts are encoded exactly as training encodes them (pinchjax.data.chat): the start token,
then the templated text. Generation stops at EOS and the template's end-of-turn token; a
multi-token end-of-turn marker or a request's stop strings cut the decoded text.
"""
from __future__ import annotations

from typing import Sequence

import seqio
from flax import nnx

from pinchjax.data import chat
from pinchjax.infer import decode
from pinchjax.infer.generator import Completion, Request, truncate_at_stop


class JaxGenerator:

  def __init__(self, model: nnx.Module, vocab: seqio.Vocabulary, template: str | chat.Template,
               max_context: int | None = None):
    self.model = model
    self.vocab = vocab
    self.template = chat.get_template(template)
    self.max_context = max_context or model.cfg.max_len
    self.stop_token_ids = chat.stop_token_ids(self.template, vocab)

  def encode(self, prompt: str) -> list[int]:
    return [chat.start_id(self.vocab)] + list(self.vocab.encode(prompt))

  def count_tokens(self, text: str) -> int:
    return len(self.encode(text))

  def instruction_prompt(self, instruction: str) -> str:
    return chat.format_prompt(self.template, instruction)

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    """System text leads the first user turn; earlier turns repeat the single-turn frame."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    if not turns or turns[-1]["role"] != "user":
      raise ValueError("the last chat message must be from the user")
    parts = []
    for i, m in enumerate(turns):
      if m["role"] == "user":
        text = f"{system}\n\n{m['content']}" if system and i == 0 else m["content"]
        parts.append(chat.format_prompt(self.template, text))
      else:
        parts.append(chat.format_response(self.template, m["content"]))
    return "".join(parts)

  def generate(self, requests: Sequence[Request]) -> list[Completion]:
    prompts = [self.encode(r.prompt) for r in requests]
    outs = decode.generate(self.model, prompts, [r.max_new_tokens for r in requests],
                           [r.sampling for r in requests], self.stop_token_ids)
    completions = []
    for request, prompt, out in zip(requests, prompts, outs):
      raw = self.vocab.decode(out.tokens)
      text = chat.strip_response(self.template, raw)
      text, stopped = truncate_at_stop(text, request.stop)
      reason = "stop" if stopped or text != raw else out.finish_reason
      completions.append(Completion(text, reason, len(prompt), len(out.tokens)))
    return completions
