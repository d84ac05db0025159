"""The generation record: one model response to one instruction, a line of generations JSONL.

  {"id": "toyeval-0007", "lang": "fi", "instruction": "...", "response": "...", "run": "p10",
   "decode_config": {...}, "finish_reason": "stop", "num_tokens": 12}

`pinchjax infer` writes these (pinchjax.infer.writer), `pinchjax data import-generations`
converts other tools' outputs to them, and the judge and the study read them. `id`, `lang`
and `instruction` are the canonical record's (pinchjax.data.canonical); `run` names the model
that answered, `decode_config` how (what decoded an imported file is unknown: its
`decode_config` names the file); `finish_reason` ("stop" or "length") and `num_tokens` are
null when unknown. Reference files (other runs' or humans' responses) use the same layout and
may leave out `run` (readers then give a default) and `decode_config`. Records stay plain
dicts, so fields this module does not know (a toy-world answer key) reach a checker untouched.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from pinchjax import atomic_file
from pinchjax.data import canonical

REQUIRED = {"id": str, "lang": str, "instruction": str, "response": str}
FIELDS = (*REQUIRED, "run", "decode_config", "finish_reason", "num_tokens")


def make(source: Mapping[str, Any], response: str, run: str, decode_config: Mapping[str, Any],
         finish_reason: str | None, num_tokens: int | None) -> dict[str, Any]:
  """The record of `response` to `source` (a record with id, lang and instruction)."""
  return {"id": source["id"], "lang": source["lang"], "instruction": source["instruction"],
          "response": response, "run": run, "decode_config": dict(decode_config),
          "finish_reason": finish_reason, "num_tokens": num_tokens}


def check(record: Any, where: str, default_run: str | None = None) -> dict[str, Any]:
  """A validated copy of one record, `run` and `decode_config` filled in; `where` names it in
  errors ("file.jsonl:12")."""
  out = _check_required(record, where)
  if "run" not in out:
    if default_run is None:
      raise ValueError(f"{where}: missing key 'run' (the name of the run that generated it)")
    out["run"] = default_run
  out.setdefault("decode_config", {})
  return out


def _check_required(record: Any, where: str) -> dict[str, Any]:
  if not isinstance(record, Mapping):
    raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
  out = dict(record)
  for key, kind in REQUIRED.items():
    if key not in out:
      raise ValueError(f"{where}: missing key {key!r} (a generation record needs "
                       f"{', '.join(REQUIRED)}, run, decode_config)")
    if not isinstance(out[key], kind):
      raise ValueError(f"{where}: key {key!r} must be a string, got {type(out[key]).__name__}")
  return out


def read(path: str, default_run: str | None = None) -> list[dict[str, Any]]:
  """All records of a generations (or references) JSONL file, checked."""
  return [check(obj, f"{path}:{number}", default_run)
          for number, obj in canonical.iter_json_lines(path)]


def line(record: Mapping[str, Any]) -> str:
  """One record as its JSONL line (keys sorted, so equal records are equal lines)."""
  return atomic_file.json_line(record)


def write(path: str, rows: Iterable[Mapping[str, Any]]) -> int:
  """Writes records (references may leave out run and decode_config) atomically: a killed
  writer leaves the old file or none, a record without the required keys no file; returns
  the count."""
  return atomic_file.write_jsonl(
      path, (_check_required(row, f"{path}: record {i}") for i, row in enumerate(rows)))
