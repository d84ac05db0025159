"""The canonical instruction record and its JSONL file format.

Every dataset layout pinchjax reads is converted to one record type, written one JSON object
a line:

  {"id": "lima-0007", "lang": "en", "instruction": "...", "response": "...", "source": "lima"}

- `id`: the example's identity across languages. The same id in several languages means the
  records are translations of one example (a parallel set); mixtures partition ids.
- `lang`: a registered ISO 639-1 code (see pinchjax.languages).
- `instruction`: the user turn, non-empty.
- `response`: the reference answer; empty only in evaluation sets (instructions to answer).
- `source`: where the example came from (lima, oasst, alpaca, aya, toyworld, ...).

Errors name the file, the line and the field. With `on_error="skip"` bad lines are skipped
and counted by reason in a `Skipped` tally, which callers print; nothing is dropped silently.
"""
from __future__ import annotations

import codecs
import collections
import dataclasses
import json
import logging
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from pinchjax import atomic_file
from pinchjax import languages
from pinchjax.data import deepjson

OnError = Literal["raise", "skip"]
FIELDS = ("id", "lang", "instruction", "response", "source")


@dataclasses.dataclass(frozen=True)
class Record:
  id: str
  lang: str
  instruction: str
  response: str
  source: str

  def to_json(self) -> dict[str, str]:
    return dataclasses.asdict(self)


class RecordError(ValueError):
  """A bad input record; the message names the file, line and field."""

  def __init__(self, path: str, line: int | str | None, field: str | None, problem: str):
    self.path, self.line, self.field, self.problem = path, line, field, problem
    where = path if line is None else f"{path}:{line}"
    what = f" field {field!r}" if field else ""
    super().__init__(f"{where}:{what} {problem}")


class Skipped:
  """A tally of skipped input lines by reason, with the first few locations of each."""

  def __init__(self):
    self.counts: collections.Counter[str] = collections.Counter()
    self.examples: dict[str, list[str]] = collections.defaultdict(list)

  def add(self, error: RecordError) -> None:
    reason = f"{error.field}: {error.problem}" if error.field else error.problem
    self.counts[reason] += 1
    if len(self.examples[reason]) < 3:
      where = error.path if error.line is None else f"{error.path}:{error.line}"
      self.examples[reason].append(where)

  @property
  def total(self) -> int:
    return sum(self.counts.values())

  def summary(self) -> str:
    if not self.total:
      return "skipped 0 records"
    lines = [f"skipped {self.total} records:"]
    for reason, n in self.counts.most_common():
      lines.append(f"  {n} x {reason} (e.g. {', '.join(self.examples[reason])})")
    return "\n".join(lines)

  def to_json(self) -> dict[str, Any]:
    return {"total": self.total, "by_reason": dict(self.counts)}


def handle(error: RecordError, on_error: OnError, skipped: Skipped | None) -> None:
  """Raises `error`, or records it in `skipped` when on_error is "skip"."""
  if on_error == "raise":
    raise error
  if on_error != "skip":
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
  if skipped is None:
    raise ValueError("on_error='skip' needs a Skipped tally so that skips are reported")
  skipped.add(error)


def iter_json_lines(path: str, on_error: OnError = "raise", skipped: Skipped | None = None
                    ) -> Iterator[tuple[int, Any]]:
  """(1-based line number, parsed value) for each non-blank line of a JSONL file.

  A UTF-8 byte-order mark is allowed; a line that is not UTF-8, or not JSON, is a RecordError
  (skippable) naming the line, and for bad bytes their offset in the file.
  """
  offset = 0
  with open(path, "rb") as f:
    for lineno, raw in enumerate(f, 1):
      start, offset = offset, offset + len(raw)
      if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
        raw, start = raw[len(codecs.BOM_UTF8):], start + len(codecs.BOM_UTF8)
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        handle(RecordError(path, lineno, None, invalid_utf8(e, start)), on_error, skipped)
        continue
      if not line.strip():
        continue
      try:
        yield lineno, deepjson.loads(line)
      except json.JSONDecodeError as e:
        handle(RecordError(path, lineno, None, f"malformed JSON ({e.msg})"), on_error, skipped)


def invalid_utf8(error: UnicodeDecodeError, start: int) -> str:
  """The problem text for bytes that are not UTF-8; `start`: file offset of error.object."""
  bad = error.object[error.start:error.start + 1].hex()
  return f"not valid UTF-8 at byte offset {start + error.start} (byte 0x{bad}: {error.reason})"


def make_record(path: str, line: int | None, *, id: Any, lang: Any, instruction: Any,
                response: Any, source: Any, expect_lang: str | None = None,
                require_response: bool = True) -> Record:
  """Validates field values and builds a Record, or raises RecordError naming the field."""
  values = {"id": id, "lang": lang, "instruction": instruction, "response": response,
            "source": source}
  for field, value in values.items():
    # Integer ids are common in exports; every other field must be text.
    ok = isinstance(value, str) or (field == "id" and type(value) is int)
    if not ok:
      raise RecordError(path, line, field, f"expected a string, got {type(value).__name__}")
  for field in ("id", "lang", "instruction", "source"):
    if not str(values[field]).strip():
      raise RecordError(path, line, field, "is empty")
  if require_response and not response.strip():
    raise RecordError(path, line, "response", "is empty")
  if lang not in languages.known():
    raise RecordError(path, line, "lang", f"unknown language code {lang!r}; known: "
                      f"{', '.join(languages.known())}")
  if expect_lang is not None and lang != expect_lang:
    raise RecordError(path, line, "lang", f"is {lang!r} but the file is for {expect_lang!r}")
  return Record(str(id), lang, instruction, response, source)


def read_jsonl(path: str, on_error: OnError = "raise", *, lang: str | None = None,
               require_response: bool = True, skipped: Skipped | None = None) -> list[Record]:
  """Reads a canonical JSONL file.

  Args:
    path: the file.
    on_error: "raise" (a RecordError naming file, line and field) or "skip" (count the bad
      line in `skipped` and go on; a summary is logged).
    lang: if given, every record must have this language (the file's language).
    require_response: False for evaluation sets, whose responses may be empty.
    skipped: the tally to count skips in; one is created (and logged) if None.

  Duplicate ids within one file are errors (ids identify examples across languages).
  """
  own_tally = skipped is None
  skipped = Skipped() if own_tally else skipped
  records, seen = [], set()
  for lineno, obj in iter_json_lines(path, on_error, skipped):
    try:
      if not isinstance(obj, dict):
        raise RecordError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
      missing = [f for f in FIELDS if f not in obj]
      if missing:
        raise RecordError(path, lineno, missing[0], "is missing")
      unknown = sorted(set(obj) - set(FIELDS))
      if unknown:
        raise RecordError(path, lineno, unknown[0], f"is not a canonical field {FIELDS}")
      record = make_record(path, lineno, **obj, expect_lang=lang,
                           require_response=require_response)
      if record.id in seen:
        raise RecordError(path, lineno, "id", f"duplicate id {record.id!r} in this file")
    except RecordError as e:
      handle(e, on_error, skipped)
      continue
    seen.add(record.id)
    records.append(record)
  if own_tally and skipped.total:
    logging.warning("%s: %s", path, skipped.summary())
  return records


def write_jsonl(path: str, records: Iterable[Record]) -> int:
  """Writes records one JSON object a line (UTF-8, not ASCII-escaped), atomically; returns
  the count."""
  return atomic_file.write_jsonl(path, (r.to_json() for r in records), sort_keys=False)


def aligned_ids(per_lang: Mapping[str, Sequence[Record]], base: str,
                path_of: Callable[[str], str] = str) -> list[str]:
  """The base language's ids (file order) after checking every language has the same ids.

  A parallel set holds one translation of each example per language; a missing or extra id
  is an error naming the file (`path_of(lang)`) and a few of the offending ids.
  """
  ids = [r.id for r in per_lang[base]]
  want = set(ids)
  for lang, recs in per_lang.items():
    have = {r.id for r in recs}
    if have != want:
      missing, extra = sorted(want - have), sorted(have - want)
      raise RecordError(
          path_of(lang), None, "id",
          f"not aligned with {path_of(base)}: {len(missing)} ids missing (e.g. {missing[:3]}), "
          f"{len(extra)} ids not in {base} (e.g. {extra[:3]})")
  return ids
