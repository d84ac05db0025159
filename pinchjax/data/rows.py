"""Rows of a JSON array or JSONL file, and the pieces every layout reader shares.

A file is a JSON array if its first non-blank character (after an optional UTF-8 byte-order
mark) is `[`, else JSONL. Locations are "item n" (0-based) in an array, the 1-based line in
JSONL. Bytes that are not UTF-8 are a RecordError giving the byte offset (and, in an array,
the line): in JSONL the line, in an array the item holding them, can be skipped.
"""
from __future__ import annotations

import codecs
import collections
import dataclasses
import json
import re
from typing import Any, Callable, Iterator

from pinchjax.data import canonical, deepjson
from pinchjax.data.canonical import OnError, Record, RecordError, Skipped

_WS = re.compile(r"[ \t\n\r]*")
_ESCAPED = re.compile("[\udc80-\udcff]")  # undecodable bytes, kept by "surrogateescape"


@dataclasses.dataclass
class ReadResult:
  records: list[Record]
  skipped: Skipped
  filtered: collections.Counter  # reason -> count of valid rows deliberately not used

  def summary(self) -> str:
    parts = [f"read {len(self.records)} records", self.skipped.summary()]
    for reason, n in self.filtered.most_common():
      parts.append(f"not selected: {n} x {reason}")
    return "\n".join(parts)

  def to_json(self) -> dict[str, Any]:
    return {"records": len(self.records), "skipped": self.skipped.to_json(),
            "filtered": dict(self.filtered)}


def items(path: str, on_error: OnError, skipped: Skipped) -> Iterator[tuple[Any, Any]]:
  """(location, value) for each row of a JSON array or JSONL file."""
  with open(path, "rb") as f:
    head = f.read(4096)
  if head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"["):
    yield from _array_items(path, on_error, skipped)
  else:
    yield from canonical.iter_json_lines(path, on_error, skipped)


def _array_items(path: str, on_error: OnError, skipped: Skipped) -> Iterator[tuple[str, Any]]:
  with open(path, "rb") as f:
    data = f.read()
  bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
  text = data[bom:].decode("utf-8", "surrogateescape")

  def line_of(pos: int) -> int:
    return text.count("\n", 0, pos) + 1

  idx, n = _WS.match(text, text.index("[") + 1).end(), 0
  try:
    while text[idx:idx + 1] != "]":
      value, end = deepjson.raw_decode(text, idx)
      bad = _ESCAPED.search(text, idx, end)
      if bad:
        offset = bom + len(text[:bad.start()].encode("utf-8", "surrogateescape"))
        canonical.handle(RecordError(
            path, f"item {n}", None, f"not valid UTF-8 at byte offset {offset} "
            f"(line {line_of(bad.start())}, byte 0x{ord(bad.group()) - 0xdc00:02x})"),
            on_error, skipped)
      else:
        yield f"item {n}", value
      n, idx = n + 1, _WS.match(text, end).end()
      if text[idx:idx + 1] == ",":
        idx = _WS.match(text, idx + 1).end()
        if text[idx:idx + 1] == "]":
          raise json.JSONDecodeError("Illegal trailing comma before end of array", text, idx)
      elif text[idx:idx + 1] != "]":
        raise json.JSONDecodeError("Expecting ',' delimiter", text, idx)
  except json.JSONDecodeError as e:
    raise RecordError(path, None, None, f"malformed JSON array at line {e.lineno} column "
                      f"{e.colno} ({e.msg})") from None
  if text[_WS.match(text, idx + 1).end():]:
    raise RecordError(path, None, None, f"malformed JSON array: text after the closing ']' "
                      f"at line {line_of(idx)}")


def field(path: str, loc, obj: Any, key: str, required: bool = True, default: str = "") -> str:
  if not isinstance(obj, dict):
    raise RecordError(path, loc, None, f"expected a JSON object, got {type(obj).__name__}")
  if key not in obj or obj[key] is None:
    if required:
      raise RecordError(path, loc, key, "is missing")
    return default
  value = obj[key]
  if not isinstance(value, str):
    raise RecordError(path, loc, key, f"expected a string, got {type(value).__name__}")
  return value


def row_index(loc: int | str) -> int:
  """The 0-based line or item index: ids built from it do not shift when a bad row is
  skipped."""
  return loc - 1 if isinstance(loc, int) else int(loc.split()[-1])


def read_rows(path: str, on_error: OnError, convert: Callable[[Any, int, Any], Record | None],
              skipped: Skipped) -> list[Record]:
  """Applies `convert(location, row index, value)` to each row, handling errors; a row it
  returns None for was deliberately not selected (the converter counts why)."""
  out, seen = [], set()
  for loc, obj in items(path, on_error, skipped):
    try:
      record = convert(loc, row_index(loc), obj)
      if record is None:
        continue
      if record.id in seen:
        raise RecordError(path, loc, "id", f"duplicate id {record.id!r}")
    except RecordError as e:
      canonical.handle(e, on_error, skipped)
      continue
    seen.add(record.id)
    out.append(record)
  return out
