"""Pairing the generation records the judge compares, and reading any JSONL it keeps.

The record's schema (reading, checking, writing) is pinchjax.data.generations.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from pinchjax.data import canonical, generations

Record = Mapping[str, Any]


def iter_jsonl(path: str) -> Iterator[tuple[str, Any]]:
  """("file:line", object) for every non-blank line; bad JSON is an error naming the line."""
  for number, obj in canonical.iter_json_lines(path):
    yield f"{path}:{number}", obj


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
      rec = generations.check(r, f"{what} record {i}", default_run=what)
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
