"""The OpenAI API surface: request validation and response shapes, independent of HTTP.

Each endpoint turns a JSON body into generator `Request`s (or raises `ApiError`, which the
HTTP layer returns as a 4xx in OpenAI's error shape) and the completions back into the
response object, or into the chunks of a server-sent-event stream.
"""
from __future__ import annotations

import dataclasses
import queue
import secrets
import time
import uuid
from typing import Any, Iterator, Sequence

from pinchjax.infer.batcher import Batcher
from pinchjax.infer.generator import Completion, Generator, Request
from pinchjax.infer.sampling import SamplingParams

MAX_STOP_SEQUENCES = 4
_ROLES = ("system", "user", "assistant")


class ApiError(Exception):
  """A request the server refuses; rendered as {"error": {...}} with `status`."""

  def __init__(self, status: int, message: str, param: str | None = None,
               code: str | None = None, kind: str = "invalid_request_error"):
    super().__init__(message)
    self.status, self.message, self.param, self.code, self.kind = (
        status, message, param, code, kind)

  def body(self) -> dict[str, Any]:
    return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                      "code": self.code}}


def _number(body: dict, name: str, default, lo: float, hi: float, integer: bool = False):
  value = body.get(name)
  if value is None:
    return default
  ok_type = int if integer else (int, float)
  if isinstance(value, bool) or not isinstance(value, ok_type):
    raise ApiError(400, f"'{name}' must be {'an integer' if integer else 'a number'}", name)
  if not lo <= value <= hi:
    raise ApiError(400, f"'{name}' must be in [{lo}, {hi}], got {value}", name)
  return value


def _stop(body: dict) -> tuple[str, ...]:
  stop = body.get("stop")
  if stop is None:
    return ()
  stops = [stop] if isinstance(stop, str) else stop
  if (not isinstance(stops, list) or len(stops) > MAX_STOP_SEQUENCES or
      not all(isinstance(s, str) and s for s in stops)):
    raise ApiError(400, f"'stop' must be a non-empty string or a list of at most "
                   f"{MAX_STOP_SEQUENCES} non-empty strings", "stop")
  return tuple(stops)


def _message_text(message: Any, i: int) -> dict[str, str]:
  if not isinstance(message, dict) or message.get("role") not in _ROLES:
    raise ApiError(400, f"messages[{i}] must be an object with a role in {list(_ROLES)}",
                   f"messages[{i}]")
  content = message.get("content")
  if isinstance(content, list):  # content parts: only text parts can be answered
    if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
               for p in content):
      raise ApiError(400, f"messages[{i}].content: only text parts are supported",
                     f"messages[{i}].content")
    content = "".join(p["text"] for p in content)
  if not isinstance(content, str):
    raise ApiError(400, f"messages[{i}].content must be a string", f"messages[{i}].content")
  return {"role": message["role"], "content": content}


@dataclasses.dataclass(frozen=True)
class Parsed:
  """A validated request: what to generate and how to answer."""
  kind: str  # "chat" or "text"
  requests: list[Request]
  stream: bool


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
    if _number(body, "n", 1, 1, 1, integer=True) != 1:
      raise ApiError(400, "only n=1 is supported", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
      raise ApiError(400, "'stream' must be a boolean", "stream")
    if kind == "chat":
      messages = body.get("messages")
      if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", "messages")
      try:
        prompts = [self.generator.chat_prompt(
            [_message_text(m, i) for i, m in enumerate(messages)])]
      except ValueError as e:  # a conversation the template cannot frame
        raise ApiError(400, str(e), "messages") from None
    else:
      prompt = body.get("prompt")
      prompts = [prompt] if isinstance(prompt, str) else prompt
      if (not isinstance(prompts, list) or not prompts or
          not all(isinstance(p, str) for p in prompts)):
        raise ApiError(400, "'prompt' must be a string or a non-empty list of strings", "prompt")
      if stream and len(prompts) > 1:
        raise ApiError(400, "streaming supports one prompt per request", "prompt")
    seed = _number(body, "seed", None, 0, (1 << 32) - 1, integer=True)
    sampling = SamplingParams(
        temperature=float(_number(body, "temperature", 1.0, 0.0, 2.0)),
        # top_p=0 means "only the most likely token", which a tiny positive mass also keeps.
        top_p=max(float(_number(body, "top_p", 1.0, 0.0, 1.0)), 1e-6),
        top_k=_number(body, "top_k", 0, 0, 1 << 20, integer=True),
        # Without a seed, sampling differs between calls, as clients of OpenAI expect.
        seed=secrets.randbits(32) if seed is None else seed)
    stop = _stop(body)
    limit = self.generator.max_context
    max_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    asked = _number(body, max_name, None, 1, limit, integer=True)
    requests = []
    for prompt in prompts:
      used = self.generator.count_tokens(prompt)
      room = limit - used
      if room < 1 or (asked is not None and asked > room):
        raise ApiError(400, f"This model's maximum context length is {limit} tokens; the "
                       f"prompt has {used} tokens and {asked or 1} new tokens were asked for",
                       "messages" if kind == "chat" else "prompt", "context_length_exceeded")
      requests.append(Request(prompt, asked or min(self.default_max_tokens, room), sampling,
                              stop))
    return Parsed(kind, requests, stream)

  def response(self, parsed: Parsed, completions: Sequence[Completion]) -> dict[str, Any]:
    chat = parsed.kind == "chat"
    choices = [{"index": i, "finish_reason": c.finish_reason, "logprobs": None,
                **({"message": {"role": "assistant", "content": c.text}} if chat else
                   {"text": c.text})} for i, c in enumerate(completions)]
    prompt_tokens = sum(c.prompt_tokens for c in completions)
    completion_tokens = sum(c.completion_tokens for c in completions)
    return {"id": _new_id(chat), "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": self.model_name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}

  def complete(self, parsed: Parsed, batcher: Batcher) -> dict[str, Any]:
    """The whole answer of a non-streaming request, decoded in `batcher`'s batches."""
    return self.response(parsed, batcher.generate(parsed.requests))

  def stream(self, parsed: Parsed, batcher: Batcher) -> Iterator[dict[str, Any]]:
    """The event objects of a streaming request, as the decoder produces text; the transport
    writes each as one server-sent event and then `[DONE]`."""
    pieces: queue.Queue[str] = queue.Queue()
    request = dataclasses.replace(parsed.requests[0], on_text=pieces.put)
    future = batcher.submit([request])[0]
    chunks = StreamChunks(parsed.kind == "chat", self.model_name)
    yield from chunks.start()
    while not (future.done() and pieces.empty()):
      try:
        yield chunks.text(pieces.get(timeout=0.05))
      except queue.Empty:
        pass
    try:
      yield chunks.finish(future.result())
    except Exception as e:  # pylint: disable=broad-except
      # The status line has gone out; the error travels as an event, as OpenAI's does.
      yield ApiError(500, f"internal error: {type(e).__name__}: {e}", kind="server_error").body()


class StreamChunks:
  """The chunk objects of one streamed answer (one id, one creation time)."""

  def __init__(self, chat: bool, model_name: str):
    self.chat = chat
    self.base = {"id": _new_id(chat), "object": "chat.completion.chunk" if chat else
                 "text_completion", "created": int(time.time()), "model": model_name}

  def _chunk(self, payload: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    return {**self.base, "choices": [{"index": 0, "finish_reason": finish_reason,
                                      "logprobs": None, **payload}]}

  def start(self) -> list[dict[str, Any]]:
    """Chat streams open by announcing the role."""
    return [self._chunk({"delta": {"role": "assistant", "content": ""}}, None)] if self.chat \
        else []

  def text(self, piece: str) -> dict[str, Any]:
    return self._chunk({"delta": {"content": piece}} if self.chat else {"text": piece}, None)

  def finish(self, completion: Completion) -> dict[str, Any]:
    return self._chunk({"delta": {}} if self.chat else {"text": ""}, completion.finish_reason)


def _new_id(chat: bool) -> str:
  return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
