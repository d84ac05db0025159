"""The OpenAI API surface: request validation and response shapes, independent of HTTP.

`parse` turns a JSON body into generator `Request`s (or raises `ApiError`, which the HTTP
layer returns as a 4xx in OpenAI's error shape); `complete` answers with the response object
and `stream` with the chunks of a server-sent-event stream. A request fans out into one row
per prompt and sample: `best_of` (default `n`) rows per prompt, of which the `n` with the
highest cumulative logprob are answered, as vLLM does. Which parameters are honoured is in
pinchjax.infer.openai_params.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import secrets
import time
import uuid
from typing import Any, Iterator, Sequence

from pinchjax.infer import openai_logprobs, openai_params as params
from pinchjax.infer.batcher import Batcher
from pinchjax.infer.generator import Completion, Generator, Request, TokenLogprob
from pinchjax.infer.logprobs import MAX_TOP
from pinchjax.infer.openai_params import INTERNAL_ERROR, ApiError
from pinchjax.infer.sampling import SamplingParams

MAX_N = 128  # choices (or best_of rows) per prompt
_SEED_SPACE = 1 << 32

__all__ = ["ApiError", "OpenAIApi", "Parsed"]


@dataclasses.dataclass(frozen=True)
class Parsed:
  """A validated request: what to generate (`best_of` rows per prompt, in prompt order) and
  how to answer."""
  kind: str  # "chat" or "text"
  requests: list[Request]
  stream: bool
  n: int = 1
  best_of: int = 1
  echo: bool = False  # text: answer with the prompt before the completion
  logprobs: int | None = None  # alternatives per token shown; None: no logprobs shown
  include_usage: bool = False  # stream: a last chunk with the usage

  @property
  def prompts(self) -> int:
    return len(self.requests) // self.best_of


class OpenAIApi:

  def __init__(self, generator: Generator, model_name: str, default_max_tokens: int = 256):
    self.generator = generator
    self.model_name = model_name
    self.default_max_tokens = default_max_tokens
    self.created = int(time.time())

  def models(self) -> dict[str, Any]:
    return {"object": "list", "data": [self.model_card()]}

  def model_card(self) -> dict[str, Any]:
    return {"id": self.model_name, "object": "model", "created": self.created,
            "owned_by": "pinchjax"}

  def parse(self, kind: str, body: Any) -> Parsed:
    """Validates a chat ("chat") or completions ("text") body into generator requests."""
    if not isinstance(body, dict):
      raise ApiError(400, "the request body must be a JSON object")
    if body.get("model") != self.model_name:
      raise ApiError(404, f"The model '{body.get('model')}' does not exist; this server "
                     f"serves '{self.model_name}'", "model", "model_not_found")
    params.check_names(kind, body)
    stream = params.boolean(body, "stream")
    include_usage = params.include_usage(body, stream)
    n = params.number(body, "n", 1, 1, MAX_N, integer=True)
    best_of = n if kind == "chat" else params.number(body, "best_of", n, n, MAX_N,
                                                     integer=True)
    if stream and best_of > n:
      raise ApiError(400, "'best_of' greater than 'n' cannot be streamed", "best_of")
    echo = kind == "text" and params.boolean(body, "echo")
    shown = self._logprobs(kind, body)
    if stream and echo and shown is not None:
      raise ApiError(400, "'echo' with 'logprobs' cannot be streamed", "echo")
    prompts = self._prompts(kind, body)
    if stream and echo and not all(isinstance(p, str) for p in prompts):
      raise ApiError(400, "'echo' of token prompts cannot be streamed", "echo")
    max_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    # max_tokens 0 only scores the prompt, which is what echo shows.
    asked = params.number(body, max_name, None, 0 if echo else 1, self.generator.max_context,
                          integer=True)
    seed = params.number(body, "seed", None, 0, _SEED_SPACE - 1, integer=True)
    base = SamplingParams(
        temperature=float(params.number(body, "temperature", 1.0, 0.0, 2.0)),
        # top_p=0 means "only the most likely token", which a tiny positive mass also keeps.
        top_p=max(float(params.number(body, "top_p", 1.0, 0.0, 1.0)), 1e-6),
        top_k=params.number(body, "top_k", 0, 0, 1 << 20, integer=True))
    stop = params.stop(body, self.generator.count_stop_tokens)
    # best_of ranks by cumulative logprob, so its rows need their logprobs even when not shown.
    new_k = shown if shown is not None else (0 if best_of > n else None)
    requests = []
    for i, prompt in enumerate(prompts):
      limit = self._limit(kind, prompt, asked)
      for j in range(best_of):
        row = i * best_of + j
        # Each row samples on its own: seed + row when a seed is given, else a fresh one.
        sampling = dataclasses.replace(base, seed=secrets.randbits(32) if seed is None else
                                       (seed + row) % _SEED_SPACE)
        requests.append(Request(prompt, limit, sampling, stop, logprobs=new_k,
                                prompt_logprobs=shown if echo else None))
    return Parsed(kind, requests, stream, n, best_of, echo, shown, include_usage)

  def _logprobs(self, kind: str, body: dict) -> int | None:
    """Alternatives shown per token: chat `logprobs` + `top_logprobs`, completions `logprobs`."""
    if kind == "text":
      return params.number(body, "logprobs", None, 0, MAX_TOP, integer=True)
    top = params.number(body, "top_logprobs", None, 0, MAX_TOP, integer=True)
    if not params.boolean(body, "logprobs"):
      if top is not None:
        raise ApiError(400, "'top_logprobs' needs 'logprobs': true", "top_logprobs")
      return None
    return top or 0

  def _prompts(self, kind: str, body: dict) -> list[str | tuple[int, ...]]:
    if kind == "text":
      return params.prompts(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
      raise ApiError(400, "'messages' must be a non-empty list", "messages")
    try:
      return [self.generator.chat_prompt(
          [params.message_text(m, i) for i, m in enumerate(messages)])]
    except ValueError as e:  # a conversation the template cannot frame
      raise ApiError(400, str(e), "messages") from None

  def _limit(self, kind: str, prompt: str | tuple[int, ...], asked: int | None) -> int:
    """New tokens for `prompt`: `asked`, or the default within the model's context."""
    field = "messages" if kind == "chat" else "prompt"
    try:
      used = self.generator.count_tokens(prompt)
    except ValueError as e:  # token ids outside the vocabulary
      raise ApiError(400, f"'prompt': {e}", field) from None
    limit = self.generator.max_context
    room, need = limit - used, 1 if asked is None else asked
    if room < need:
      raise ApiError(400, f"This model's maximum context length is {limit} tokens; the "
                     f"prompt has {used} tokens and {need} new tokens were asked for", field,
                     "context_length_exceeded")
    return min(self.default_max_tokens, room) if asked is None else asked

  def choices(self, parsed: Parsed, completions: Sequence[Completion]
              ) -> list[tuple[int, Completion]]:
    """(choice index, completion) per answer: of each prompt's best_of rows, the n best."""
    out = []
    for i in range(parsed.prompts):
      rows = list(completions[i * parsed.best_of:(i + 1) * parsed.best_of])
      if parsed.best_of > parsed.n:
        rows = sorted(rows, key=lambda c: c.cumulative_logprob, reverse=True)[:parsed.n]
      out += [(i * parsed.n + j, c) for j, c in enumerate(rows)]
    return out

  def usage(self, parsed: Parsed, completions: Sequence[Completion]) -> dict[str, int]:
    """Each prompt counted once; every generated row counted (best_of's too)."""
    prompt = sum(c.prompt_tokens for c in completions[::parsed.best_of])
    done = sum(c.completion_tokens for c in completions)
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}

  def response(self, parsed: Parsed, completions: Sequence[Completion]) -> dict[str, Any]:
    chat = parsed.kind == "chat"
    choices = []
    for index, c in self.choices(parsed, completions):
      if chat:
        body = {"message": {"role": "assistant", "content": c.text},
                "logprobs": None if parsed.logprobs is None else
                openai_logprobs.chat(c.logprobs, parsed.logprobs)}
      else:
        body = {"text": (c.prompt_text if parsed.echo else "") + c.text,
                "logprobs": None if parsed.logprobs is None else
                openai_logprobs.legacy(c, parsed.echo, parsed.logprobs)}
      choices.append({"index": index, "finish_reason": c.finish_reason, **body})
    return {"id": _new_id(chat), "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": self.model_name, "choices": choices,
            "usage": self.usage(parsed, completions)}

  def complete(self, parsed: Parsed, batcher: Batcher) -> dict[str, Any]:
    """The whole answer of a non-streaming request, decoded in `batcher`'s batches."""
    return self.response(parsed, batcher.generate(parsed.requests))

  def stream(self, parsed: Parsed, batcher: Batcher) -> Iterator[dict[str, Any]]:
    """The event objects of a streaming request, as the decoder produces text (choices
    interleaved, told apart by index); the transport writes each as one server-sent event
    and then `[DONE]`."""
    pieces: queue.Queue[tuple[int, str, list | None]] = queue.Queue()
    requests = [dataclasses.replace(r, on_text=lambda t, lps=None, i=i: pieces.put((i, t, lps)))
                for i, r in enumerate(parsed.requests)]
    futures = batcher.submit(requests)
    chunks = StreamChunks(parsed.kind == "chat", self.model_name, parsed.include_usage,
                          parsed.logprobs)
    for i, request in enumerate(requests):
      yield from chunks.start(i, request.prompt if parsed.echo else None)
    while not (all(f.done() for f in futures) and pieces.empty()):
      try:
        yield chunks.text(*pieces.get(timeout=0.05))
      except queue.Empty:
        pass
    try:
      completions = [f.result() for f in futures]
    except Exception:  # pylint: disable=broad-except
      # The status line has gone out; the error travels as an event, as OpenAI's does, and
      # like every 500 it says nothing of the internals (the log has the traceback).
      logging.exception("a streamed request failed")
      yield ApiError(500, INTERNAL_ERROR, kind="server_error").body()
      return
    for i, completion in enumerate(completions):
      yield chunks.finish(i, completion)
    if parsed.include_usage:
      yield chunks.usage(self.usage(parsed, completions))


class StreamChunks:
  """The chunk objects of one streamed answer (one id, one creation time)."""

  def __init__(self, chat: bool, model_name: str, include_usage: bool = False,
               logprobs: int | None = None):
    self.chat, self.logprobs = chat, logprobs
    self.offsets: dict[int, int] = {}  # per choice: characters of token text so far
    self.base = {"id": _new_id(chat), "object": "chat.completion.chunk" if chat else
                 "text_completion", "created": int(time.time()), "model": model_name}
    if include_usage:  # OpenAI: every chunk carries "usage", null until the last one
      self.base["usage"] = None

  def _chunk(self, index: int, payload: dict[str, Any], finish_reason: str | None
             ) -> dict[str, Any]:
    return {**self.base, "choices": [{"index": index, "finish_reason": finish_reason,
                                      "logprobs": None, **payload}]}

  def start(self, index: int, echo: str | tuple[int, ...] | None) -> list[dict[str, Any]]:
    """Chat streams open by announcing the role; an echoing completion with its prompt."""
    if self.chat:
      return [self._chunk(index, {"delta": {"role": "assistant", "content": ""}}, None)]
    return [self.text(index, echo)] if isinstance(echo, str) and echo else []

  def text(self, index: int, piece: str, tokens: list[TokenLogprob] | None = None
           ) -> dict[str, Any]:
    chunk = self._chunk(index, {"delta": {"content": piece}} if self.chat else {"text": piece},
                        None)
    if tokens is not None and self.logprobs is not None:
      if self.chat:
        shown = openai_logprobs.chat(tokens, self.logprobs)
      else:
        start = self.offsets.get(index, 0)
        shown = openai_logprobs.legacy_tokens(tokens, self.logprobs, start)
        self.offsets[index] = start + sum(len(t.text) for t in tokens)
      chunk["choices"][0]["logprobs"] = shown
    return chunk

  def finish(self, index: int, completion: Completion) -> dict[str, Any]:
    return self._chunk(index, {"delta": {}} if self.chat else {"text": ""},
                       completion.finish_reason)

  def usage(self, usage: dict[str, int]) -> dict[str, Any]:
    return {**self.base, "choices": [], "usage": usage}


def _new_id(chat: bool) -> str:
  return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
