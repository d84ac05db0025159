"""Generations JSONL: reading, checking and pairing the records the judge compares.

A generation record is `{id, lang, instruction, response, run, decode_config}`; reference
files use the same layout and may leave out `run` (then "references") and `decode_config`.
Records stay plain dicts, so fields the judge does not know (a toy-world answer key) reach a
verifiable checker untouched.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Sequence

from pinchjax import atomic_file
from pinchjax.data import canonical

Record = Mapping[str, Any]

_REQUIRED = {"id": str, "lang": str, "instruction": str, "response": str}


def check(record: Any, where: str, default_run: str | None = None) -> dict[str, Any]:
  """A validated copy of one record; `where` names it in errors ("file.jsonl:12")."""
  if not isinstance(record, Mapping):
    raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
  out = dict(record)
  for key, kind in _REQUIRED.items():
    if key not in out:
      raise ValueError(f"{where}: missing key {key!r} (a generation record needs "
                       f"{', '.join(_REQUIRED)}, run, decode_config)")
    if not isinstance(out[key], kind):
      raise ValueError(f"{where}: key {key!r} must be a string, got {type(out[key]).__name__}")
  if "run" not in out:
    if default_run is None:
      raise ValueError(f"{where}: missing key 'run' (the name of the run that generated it)")
    out["run"] = default_run
  out.setdefault("decode_config", {})
  return out


def iter_jsonl(path: str) -> Iterator[tuple[str, Any]]:
  """("file:line", object) for every non-blank line; bad JSON is an error naming the line."""
  for number, obj in canonical.iter_json_lines(path):
    yield f"{path}:{number}", obj


def read(path: str, default_run: str | None = None) -> list[dict[str, Any]]:
  """All records of a generations (or references) JSONL file, checked."""
  return [check(obj, where, default_run) for where, obj in iter_jsonl(path)]


def write(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
  """Writes JSONL atomically (a killed writer leaves the old file or none)."""
  atomic_file.write(path, (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
                           for row in rows))


def pair(candidates: Sequence[Record], baselines: Sequence[Record]
         ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
  """(candidate, baseline) records matched by (lang, id), in candidate order.

  Every candidate needs exactly one baseline with the same instruction; a missing or
  different baseline is an error naming the first offenders, since scoring a subset would
  silently change what the number means. Baselines without a candidate are ignored (a
  reference set usually covers more than one run evaluates).
  """
  def index(records: Sequence[Record], what: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, r in enumerate(records):
      rec = check(r, f"{what} record {i}", default_run=what)
      key = (rec["lang"], rec["id"])
      if key in out:
        raise ValueError(f"{what}: duplicate record for lang={key[0]!r} id={key[1]!r}")
      out[key] = rec
    return out

  cands = index(candidates, "candidate")
  bases = index(baselines, "baseline")
  missing = [k for k in cands if k not in bases]
  if missing:
    shown = ", ".join(f"{lang}/{id_}" for lang, id_ in missing[:5])
    raise ValueError(f"{len(missing)} of {len(cands)} candidate records have no baseline "
                     f"with the same lang and id (first: {shown})")
  differ = [k for k in cands if cands[k]["instruction"] != bases[k]["instruction"]]
  if differ:
    shown = ", ".join(f"{lang}/{id_}" for lang, id_ in differ[:5])
    raise ValueError(f"{len(differ)} candidate/baseline pairs have different instructions "
                     f"(first: {shown}); were they generated from the same eval set?")
  return [(cands[k], bases[k]) for k in cands]
