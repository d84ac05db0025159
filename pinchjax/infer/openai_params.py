"""Which OpenAI request parameters the server honours, and the checks of single values.

A parameter is either honoured (read by `OpenAIApi.parse`), accepted only at the value that
changes nothing (a penalty of 0, `response_format` text, no tools: anything else is refused),
accepted and ignored because it cannot change an answer (`user`, `metadata`, `service_tier`),
or refused: a request naming a parameter the server does not know gets a 400 naming it, as
OpenAI's own API answers, so nothing a client asks for is dropped silently.
"""
from __future__ import annotations

from typing import Any, Callable

from pinchjax.infer.decode import STOP_TOKENS

MAX_STOP_SEQUENCES = 4
_ROLES = ("system", "user", "assistant")

_COMMON = {"model", "stream", "stream_options", "n", "temperature", "top_p", "top_k",
           "max_tokens", "stop", "seed"}
HONOURED = {
    "chat": _COMMON | {"messages", "max_completion_tokens", "logprobs", "top_logprobs"},
    "text": _COMMON | {"prompt", "echo", "best_of", "logprobs"},
}
# Identify or route a request; they cannot change its answer.
IGNORED = {"user", "metadata", "service_tier"}
# Accepted only at these values (JSON null is always "not given").
_NEUTRAL_COMMON = {"presence_penalty": (0,), "frequency_penalty": (0,), "logit_bias": ({},),
                   "repetition_penalty": (1,), "min_p": (0,)}
NEUTRAL = {
    "chat": {**_NEUTRAL_COMMON, "response_format": ({"type": "text"},), "tools": ([],),
             "tool_choice": ("none",), "functions": ([],), "function_call": ("none",),
             "parallel_tool_calls": (True, False), "store": (False,),
             "modalities": (["text"],)},
    "text": {**_NEUTRAL_COMMON, "suffix": ("",)},
}


INTERNAL_ERROR = "The server had an error while processing your request."


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


def check_names(kind: str, body: dict) -> None:
  """Refuses a parameter that is unknown, or known and not honoured at the value given."""
  for name, value in body.items():
    if name in HONOURED[kind] or name in IGNORED or value is None:
      continue
    neutral = NEUTRAL[kind].get(name)
    if neutral is None:
      raise ApiError(400, f"Unrecognized request argument supplied: {name} (this server "
                     "does not support it)", name, "unsupported_parameter")
    if not any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in neutral):
      allowed = " or ".join(repr(v) for v in neutral)
      raise ApiError(400, f"'{name}' is not supported by this server; only {allowed} (or "
                     f"leaving it out) is accepted, got {value!r}", name,
                     "unsupported_parameter")


def number(body: dict, name: str, default, lo: float, hi: float, integer: bool = False):
  value = body.get(name)
  if value is None:
    return default
  ok_type = int if integer else (int, float)
  if isinstance(value, bool) or not isinstance(value, ok_type):
    raise ApiError(400, f"'{name}' must be {'an integer' if integer else 'a number'}", name)
  if not lo <= value <= hi:
    raise ApiError(400, f"'{name}' must be in [{lo}, {hi}], got {value}", name)
  return value


def boolean(body: dict, name: str) -> bool:
  value = body.get(name, False)
  if value is None:
    return False
  if not isinstance(value, bool):
    raise ApiError(400, f"'{name}' must be a boolean", name)
  return value


def stop(body: dict, count_tokens: Callable[[str], int]) -> tuple[str, ...]:
  """`stop`: up to MAX_STOP_SEQUENCES strings of up to decode.STOP_TOKENS tokens each (the
  stop-sequence layout every batch shares, so that no request compiles a new program)."""
  given = body.get("stop")
  if given is None:
    return ()
  stops = [given] if isinstance(given, str) else given
  if (not isinstance(stops, list) or len(stops) > MAX_STOP_SEQUENCES or
      not all(isinstance(s, str) and s for s in stops)):
    raise ApiError(400, f"'stop' must be a non-empty string or a list of at most "
                   f"{MAX_STOP_SEQUENCES} non-empty strings", "stop")
  for s in stops:
    if count_tokens(s) > STOP_TOKENS:
      raise ApiError(400, f"'stop' strings may have at most {STOP_TOKENS} tokens; {s!r} has "
                     f"{count_tokens(s)}", "stop")
  return tuple(stops)


def include_usage(body: dict, stream: bool) -> bool:
  """`stream_options`: only `include_usage`, and only with `stream`, as OpenAI checks."""
  options = body.get("stream_options")
  if options is None:
    return False
  if not stream:
    raise ApiError(400, "'stream_options' is only allowed when 'stream' is true",
                   "stream_options")
  if not isinstance(options, dict) or set(options) - {"include_usage"}:
    raise ApiError(400, "'stream_options' supports only {\"include_usage\": bool}",
                   "stream_options")
  return boolean(options, "include_usage")


def message_text(message: Any, i: int) -> dict[str, str]:
  if not isinstance(message, dict) or message.get("role") not in _ROLES:
    raise ApiError(400, f"messages[{i}] must be an object with a role in {list(_ROLES)}",
                   f"messages[{i}]")
  # Clients send back answers as they got them, with empty fields (tool_calls: null, ...).
  extra = {k for k, v in message.items() if k not in ("role", "content") and v not in (None, [])}
  if extra:
    raise ApiError(400, f"messages[{i}]: unsupported field(s) {sorted(extra)}",
                   f"messages[{i}].{sorted(extra)[0]}", "unsupported_parameter")
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


def prompts(body: dict) -> list[str | tuple[int, ...]]:
  """`prompt`: a string, a list of strings, a list of token ids, or a list of such lists."""
  prompt = body.get("prompt")
  if isinstance(prompt, str) or _is_ids(prompt):
    return [_one_prompt(prompt)]
  if isinstance(prompt, list) and prompt and all(isinstance(p, str) or _is_ids(p)
                                                 for p in prompt):
    return [_one_prompt(p) for p in prompt]
  raise ApiError(400, "'prompt' must be a string, a non-empty list of strings, a non-empty "
                 "list of token ids, or a list of such lists", "prompt")


def _is_ids(value: Any) -> bool:
  return (isinstance(value, list) and bool(value) and
          all(isinstance(i, int) and not isinstance(i, bool) for i in value))


def _one_prompt(prompt: str | list[int]) -> str | tuple[int, ...]:
  return prompt if isinstance(prompt, str) else tuple(prompt)
