"""`JaxGenerator`: the `Generator` over a pinchjax model, a seqio vocabulary and a chat template.

Prompts are encoded exactly as training encodes them (pinchjax.data.chat): the start token,
then the templated text; with a tokenizer's jinja template, the rendered text's ids alone (as
transformers' apply_chat_template gives them). Generation stops at EOS and the template's
end-of-turn token, and at the token sequences of the end-of-turn marker and a request's stop
strings; the decoded text is cut at the first stop string either way.
"""
from __future__ import annotations

from typing import Sequence

import seqio
from flax import nnx

from pinchjax.data import chat
from pinchjax.infer import decode
from pinchjax.infer.generator import Completion, Request, held_back, truncate_at_stop


class _TextStream:
  """Turns one row's tokens, as the decode loop produces them, into text pieces."""

  def __init__(self, vocab: seqio.Vocabulary, stop_token_ids: tuple[int, ...],
               stop: tuple[str, ...], on_text):
    self.vocab, self.stop_token_ids, self.stop = vocab, stop_token_ids, stop
    self.on_text = on_text
    self.tokens: list[int] = []
    self.sent = ""
    self.closed = False

  def push(self, token: int) -> None:
    if self.closed:
      return
    if token in self.stop_token_ids:
      self.closed = True
      return
    self.tokens.append(token)
    text, self.closed = truncate_at_stop(self.vocab.decode(self.tokens), self.stop)
    if not self.closed:
      text = text[:len(text) - held_back(text, self.stop)]
    self._send(text)

  def finish(self, text: str) -> None:
    self._send(text)

  def _send(self, text: str) -> None:
    # Only ever extend what was sent (a decoder that rewrites earlier text waits for the end).
    if len(text) > len(self.sent) and text.startswith(self.sent):
      self.on_text(text[len(self.sent):])
      self.sent = text


class JaxGenerator:

  def __init__(self, model: nnx.Module, vocab: seqio.Vocabulary,
               template: str | chat.ChatTemplate, max_context: int | None = None,
               sharding: decode.Sharding = None):
    self.model = model
    self.sharding = sharding
    self.vocab = vocab
    self.template = chat.get_template(template, vocab)
    self.max_context = max_context or model.cfg.max_len
    self.stop_token_ids = chat.stop_token_ids(self.template, vocab)

  def encode(self, prompt: str) -> list[int]:
    return self.template.encode(self.vocab, prompt)

  def count_tokens(self, text: str) -> int:
    return len(self.encode(text))

  def instruction_prompt(self, instruction: str) -> str:
    return self.template.instruction_prompt(instruction)

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    return self.template.chat_prompt(messages)

  def generate(self, requests: Sequence[Request]) -> list[Completion]:
    prompts = [self.encode(r.prompt) for r in requests]
    streams = {i: _TextStream(self.vocab, self.stop_token_ids,
                              self.template.stop_strings + r.stop, r.on_text)
               for i, r in enumerate(requests) if r.on_text is not None}

    def on_step(step, tokens, active):
      del step
      for i, stream in streams.items():
        if active[i]:
          stream.push(int(tokens[i]))

    # Stop strings end a row early when the model spells them with the tokens they encode
    # to; cutting the decoded text below is what makes them exact.
    sequences = [[self.vocab.encode(s) for s in self.template.stop_strings + r.stop]
                 for r in requests]
    outs = decode.generate(self.model, prompts, [r.max_new_tokens for r in requests],
                           [r.sampling for r in requests], self.stop_token_ids,
                           on_step=on_step if streams else None, sharding=self.sharding,
                           stop_sequences=sequences)
    completions = []
    for i, (request, prompt, out) in enumerate(zip(requests, prompts, outs)):
      raw = self.vocab.decode(out.tokens)
      text = chat.strip_response(self.template, raw)
      text, stopped = truncate_at_stop(text, request.stop)
      reason = "stop" if stopped or text != raw else out.finish_reason
      if i in streams:
        streams[i].finish(text)
      completions.append(Completion(text, reason, len(prompt), len(out.tokens)))
    return completions
