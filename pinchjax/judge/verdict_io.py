"""Verdicts JSONL: one game a line (pinchjax.judge.protocol.GameVerdict fields + outcome)."""
from __future__ import annotations

from typing import Sequence

from pinchjax import atomic_file
from pinchjax.judge import protocol
from pinchjax.judge import records


def write_verdicts(path: str, verdicts: Sequence[protocol.GameVerdict]) -> None:
  atomic_file.write_jsonl(path, (v.to_json() for v in verdicts))


def read_verdicts(path: str) -> list[protocol.GameVerdict]:
  return [protocol.GameVerdict.from_json(obj, where)
          for where, obj in records.iter_jsonl(path)]
