"""`JaxGenerator`: the `Generator` over a pinchjax model, a seqio vocabulary and a chat template.

Prompts are encoded exactly as training encodes them (pinchjax.data.chat): the start token,
then the templated text; with a tokenizer's jinja template, the rendered text's ids alone (as
transformers' apply_chat_template gives them). Generation stops at EOS and the template's
end-of-turn token, and at the token sequences of the end-of-turn marker and a request's stop
strings; the decoded text is cut at the first stop string either way. Text is decoded in
context (pinchjax.infer.detokenize): a completion is what its tokens add to the prompt's,
leading space included.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import seqio
from flax import nnx

from pinchjax.data import chat
from pinchjax.infer import decode, detokenize, logprobs as logprobs_lib
from pinchjax.infer.generator import (Completion, Request, TokenLogprob, held_back,
                                      truncate_at_stop)
from pinchjax.infer.logprobs import Scored


class _TextStream:
  """Turns one row's tokens, as the decode loop produces them, into text pieces (with the
  logprobs of the tokens each piece completes, when the request asks for logprobs)."""

  def __init__(self, text: detokenize.Continuation, stop_token_ids: tuple[int, ...],
               stop: tuple[str, ...], on_text, logprobs: bool):
    self.continuation, self.stop_token_ids, self.stop = text, stop_token_ids, stop
    self.on_text = on_text
    self.pieces = detokenize.Pieces(text.decode, text.context) if logprobs else None
    self.pending: list[TokenLogprob] = []  # logprobs of tokens whose text is not sent yet
    self.tokens: list[int] = []
    self.sent = ""
    self.closed = False

  def push(self, token: int, scored: Scored | None) -> None:
    if self.closed:
      return
    if self.pieces is not None:
      before = self.pieces.seq[-detokenize.WINDOW:]
      self.pending.append(_described(self.continuation.decode, before, scored,
                                     self.pieces.add(token)))
    if token in self.stop_token_ids:
      self.closed = True
      return
    self.tokens.append(token)
    text, self.closed = truncate_at_stop(self.continuation.text(self.tokens), self.stop)
    if not self.closed:
      text = text[:len(text) - held_back(text, self.stop)]
    self._send(text)

  def finish(self, text: str) -> None:
    if self.pending:  # a character still waiting for its end is all there is
      last = self.pending[-1]
      self.pending[-1] = dataclasses.replace(last, text=last.text + self.pieces.flush())
    self._send(text)
    if self.pending:
      self._emit("")

  def _send(self, text: str) -> None:
    # Only ever extend what was sent (a decoder that rewrites earlier text waits for the end).
    if len(text) > len(self.sent) and text.startswith(self.sent):
      self._emit(text[len(self.sent):])
      self.sent = text

  def _emit(self, piece: str) -> None:
    if self.pieces is None:
      self.on_text(piece)
    else:
      self.on_text(piece, self.pending)
      self.pending = []


def _described(decode: detokenize.Decode, before: list[int], scored: Scored, piece: str
               ) -> TokenLogprob:
  """`scored` (a token after `before`, whose text there is `piece`) with texts for its
  alternatives."""
  return TokenLogprob(piece, scored.logprob, tuple(
      (detokenize.alternative(decode, before, t), lp) for t, lp in scored.top))


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
    self.step_buckets: tuple[int, ...] = ()

  def encode(self, prompt: str | Sequence[int]) -> list[int]:
    """What the model reads: the text as the template encodes it, or token ids as given."""
    if isinstance(prompt, str):
      return self.template.encode(self.vocab, prompt)
    ids = [int(i) for i in prompt]
    if not ids or not all(0 <= i < self.model.cfg.vocab_size for i in ids):
      raise ValueError(f"token prompts must be non-empty with ids in [0, "
                       f"{self.model.cfg.vocab_size})")
    return ids

  def count_tokens(self, prompt: str | Sequence[int]) -> int:
    return len(self.encode(prompt))

  def count_stop_tokens(self, stop: str) -> int:
    return len(self.vocab.encode(stop))

  def decode(self, ids: Sequence[int]) -> str:
    """Text of ids. EOS adds none; seqio's `decode` would also drop everything after it, which
    a token prompt (e.g. lm-eval's EOS before a context-free continuation) can have."""
    return self.vocab.decode([i for i in ids if i != self.vocab.eos_id])

  def instruction_prompt(self, instruction: str) -> str:
    return self.template.instruction_prompt(instruction)

  def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
    return self.template.chat_prompt(messages)

  def generate(self, requests: Sequence[Request]) -> list[Completion]:
    prompts = [self.encode(r.prompt) for r in requests]
    texts = [detokenize.Continuation(self.decode, p) for p in prompts]
    streams = {i: _TextStream(texts[i], self.stop_token_ids,
                              self.template.stop_strings + r.stop, r.on_text,
                              r.logprobs is not None)
               for i, r in enumerate(requests) if r.on_text is not None}

    def on_step(step, tokens, active, scores):
      del step
      for i, stream in streams.items():
        if active[i]:
          scored = None if stream.pieces is None else logprobs_lib.scored_row(
              tokens[i:i + 1], *(a[i:i + 1] for a in scores), requests[i].logprobs)[0]
          stream.push(int(tokens[i]), scored)

    # Stop strings end a row early when the model spells them with the tokens they encode
    # to; cutting the decoded text below is what makes them exact.
    sequences = [[self.vocab.encode(s) for s in self.template.stop_strings + r.stop]
                 for r in requests]
    outs = decode.generate(self.model, prompts, [r.max_new_tokens for r in requests],
                           [r.sampling for r in requests], self.stop_token_ids,
                           on_step=on_step if streams else None, sharding=self.sharding,
                           stop_sequences=sequences, logprobs=[r.logprobs for r in requests],
                           prompt_logprobs=[r.prompt_logprobs for r in requests],
                           step_buckets=self.step_buckets)
    completions = []
    for i, (request, prompt, out) in enumerate(zip(requests, prompts, outs)):
      raw = texts[i].text(out.tokens)
      text = chat.strip_response(self.template, raw)
      text, stopped = truncate_at_stop(text, request.stop)
      reason = "stop" if stopped or text != raw else out.finish_reason
      if i in streams:
        streams[i].finish(text)
      # A text prompt's start token (a family template's) is framing, not part of the prompt.
      framed = len(self.template.encode(self.vocab, "")) if isinstance(request.prompt, str) else 0
      new = None
      if out.logprobs is not None:
        new = self._token_logprobs(prompt, out.logprobs)
        if text != raw:  # cut at a stop string: the tokens up to the one completing it
          stop = next(s for s in self.template.stop_strings + request.stop
                      if raw.startswith(s, len(text)))
          new = _through(new, len(text) + len(stop))
      completions.append(Completion(
          text, reason, len(prompt), len(out.tokens), logprobs=new,
          prompt_logprobs=None if out.prompt_logprobs is None else self._token_logprobs(
              prompt[:framed], out.prompt_logprobs[framed:]),
          prompt_text=request.prompt if isinstance(request.prompt, str) else self.decode(prompt)))
    return completions

  def _token_logprobs(self, context: list[int], scored: list[Scored]) -> list[TokenLogprob]:
    """`scored` tokens following `context`, with their texts in that context."""
    seq = context + [s.token for s in scored]
    pieces = detokenize.pieces(self.decode, context, seq[len(context):])
    window = lambda end: seq[max(0, end - detokenize.WINDOW):end]
    return [_described(self.decode, window(len(context) + i), s, piece)
            for i, (piece, s) in enumerate(zip(pieces, scored))]


def _through(tokens: list[TokenLogprob], end: int) -> list[TokenLogprob]:
  """The first tokens, up to the one whose text reaches character `end` of their text."""
  at = 0
  for n, token in enumerate(tokens):
    if at >= end:
      return tokens[:n]
    at += len(token.text)
  return tokens
