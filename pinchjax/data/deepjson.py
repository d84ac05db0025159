"""JSON values nested deeper than the json module's recursion allows, parsed with a stack.

An OpenAssistant tree export nests every reply one level inside its parent, so a long
conversation is a JSON value thousands of levels deep; `json` recurses once per level and
raises RecursionError. `raw_decode` uses `json` and falls back to an explicit stack.
"""
from __future__ import annotations

import json
import re
from json import decoder
from typing import Any

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def raw_decode(s: str, idx: int = 0) -> tuple[Any, int]:
  """(value, end) of the JSON value starting at s[idx], like JSONDecoder.raw_decode."""
  try:
    return _DECODER.raw_decode(s, idx)
  except RecursionError:
    return _decode_with_stack(s, idx)


def loads(s: str) -> Any:
  value, end = raw_decode(s, _WS.match(s, 0).end())
  end = _WS.match(s, end).end()
  if end != len(s):
    raise json.JSONDecodeError("Extra data", s, end)
  return value


def _key(s: str, idx: int) -> tuple[str, int]:
  """An object key and the index after its ':'."""
  if s[idx:idx + 1] != '"':
    raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, idx)
  key, idx = decoder.scanstring(s, idx + 1)
  idx = _WS.match(s, idx).end()
  if s[idx:idx + 1] != ":":
    raise json.JSONDecodeError("Expecting ':' delimiter", s, idx)
  return key, _WS.match(s, idx + 1).end()


def _scalar(s: str, idx: int) -> tuple[Any, int]:
  """A string, number or constant, by json's own scanner (which never recurses for them)."""
  try:
    return _DECODER.scan_once(s, idx)
  except StopIteration:
    raise json.JSONDecodeError("Expecting value", s, idx) from None


def _decode_with_stack(s: str, idx: int) -> tuple[Any, int]:
  stack: list[list[Any]] = []  # [open container, key awaiting its value (objects)]
  while True:
    idx = _WS.match(s, idx).end()
    opener = s[idx:idx + 1]
    if opener in ("{", "["):
      idx = _WS.match(s, idx + 1).end()
      closer = "}" if opener == "{" else "]"
      if s[idx:idx + 1] == closer:
        value, idx = ({} if opener == "{" else []), idx + 1
      elif opener == "{":
        key, idx = _key(s, idx)
        stack.append([{}, key])
        continue
      else:
        stack.append([[], None])
        continue
    else:
      value, idx = _scalar(s, idx)
    while True:  # attach `value` to its container; close containers that end here
      if not stack:
        return value, idx
      entry = stack[-1]
      container = entry[0]
      if isinstance(container, dict):
        container[entry[1]] = value
      else:
        container.append(value)
      idx = _WS.match(s, idx).end()
      sep = s[idx:idx + 1]
      if sep == ",":
        idx = _WS.match(s, idx + 1).end()
        if isinstance(container, dict):
          entry[1], idx = _key(s, idx)
        break
      if sep != ("}" if isinstance(container, dict) else "]"):
        raise json.JSONDecodeError("Expecting ',' delimiter", s, idx)
      stack.pop()
      value, idx = container, idx + 1
