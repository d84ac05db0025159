"""Any JSON array or JSONL layout, read through a field map.

  pinchjax data import --format json --map instruction=prompt,response=output,id=id ...

A map is `FIELD=PATH` pairs separated by commas. FIELD is one of instruction (required),
input (appended to the instruction after a blank line when non-empty, as in Alpaca),
response (or its alias output; without it the responses are empty: an evaluation set), id,
lang, source and, for generations, run. PATH is a key or a dotted path through nested
objects and lists, a number indexing a list: `conversation.0.text`.

Without an id field, id = "row-{n}" with n the 0-based line or array item, so files that are
translations of each other line by line get the same ids. Without a lang field every record
has the language given for the file; with one, a record whose language differs from the
file's (if given) is an error. Without a source field, source = "json".
"""
from __future__ import annotations

import collections
from typing import Any, Mapping

from pinchjax.data import canonical, rows
from pinchjax.data.canonical import OnError, Record, RecordError, Skipped

FIELDS = ("instruction", "input", "response", "id", "lang", "source", "run")
ALIASES = {"output": "response"}


def parse_map(spec: str, allowed: tuple[str, ...] = FIELDS) -> dict[str, str]:
  """'instruction=prompt,response=output' -> {"instruction": "prompt", ...}."""
  mapping: dict[str, str] = {}
  for part in filter(None, (p.strip() for p in spec.split(","))):
    field, sep, path = (s.strip() for s in part.partition("="))
    field = ALIASES.get(field, field)
    if not sep or not path:
      raise ValueError(f"--map: {part!r} must look like FIELD=PATH")
    if field not in allowed:
      raise ValueError(f"--map: unknown field {field!r}; fields: {', '.join(allowed)}")
    if field in mapping:
      raise ValueError(f"--map: field {field!r} is mapped twice")
    mapping[field] = path
  if "instruction" not in mapping:
    raise ValueError("--map must map the instruction field, e.g. instruction=prompt")
  return mapping


def lookup(path: str, loc, obj: Any, dotted: str, field: str) -> Any:
  """The value at `dotted` in `obj`; None when absent or null."""
  value = obj
  for step in dotted.split("."):
    if isinstance(value, dict):
      value = value.get(step)
    elif isinstance(value, list) and step.lstrip("-").isdigit():
      value = value[int(step)] if -len(value) <= int(step) < len(value) else None
    elif value is not None:
      raise RecordError(path, loc, field, f"path {dotted!r}: cannot take {step!r} of a "
                        f"{type(value).__name__}")
    if value is None:
      return None
  return value


def read_mapped(path: str, mapping: Mapping[str, str], lang: str | None,
                on_error: OnError = "raise", run: str | None = None,
                ids: Mapping[str, str] | None = None) -> rows.ReadResult:
  """Canonical records of `path` through `mapping`.

  `run`: with a mapped run field, only rows whose run is this one are used (a release with
  several systems' outputs in one file); the others are counted as not selected.
  `ids`: instruction -> id (an evaluation set's), used instead of the id field.
  """
  if lang is None and "lang" not in mapping:
    raise ValueError("give the file's language (--lang) or map a lang field")
  skipped, filtered = Skipped(), collections.Counter()

  def text(loc, obj, field: str, required: bool) -> Any:
    value = lookup(path, loc, obj, mapping[field], field) if field in mapping else None
    if value is None and required:
      raise RecordError(path, loc, field, f"is missing (mapped from {mapping[field]!r})")
    return value

  def convert(loc, n, obj) -> Record | None:
    if not isinstance(obj, dict):
      raise RecordError(path, loc, None, f"expected a JSON object, got {type(obj).__name__}")
    if "run" in mapping and (got := text(loc, obj, "run", True)) != run:
      filtered[f"rows of other runs ({got})"] += 1
      return None
    instruction = text(loc, obj, "instruction", True)
    extra = text(loc, obj, "input", False)
    if isinstance(instruction, str) and isinstance(extra, str) and extra.strip():
      instruction = f"{instruction}\n\n{extra}"
    row_lang = text(loc, obj, "lang", True) if "lang" in mapping else lang
    if lang is not None and row_lang != lang:
      raise RecordError(path, loc, "lang", f"is {row_lang!r} but the file is for {lang!r}")
    if ids is not None:
      if instruction not in ids:
        raise RecordError(path, loc, "instruction", "is not an instruction of the evaluation "
                          "set that gives the ids")
      ident = ids[instruction]
    else:
      ident = text(loc, obj, "id", True) if "id" in mapping else f"row-{n}"
    return canonical.make_record(
        path, loc, id=ident, lang=row_lang, instruction=instruction,
        response=text(loc, obj, "response", True) if "response" in mapping else "",
        source=text(loc, obj, "source", True) if "source" in mapping else "json",
        require_response="response" in mapping)
  return rows.ReadResult(rows.read_rows(path, on_error, convert, skipped), skipped, filtered)
