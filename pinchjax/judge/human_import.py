"""Raters' filled files read back against the package's key, and their agreement.

    labels, unlabelled = read_labels([("alice", "alice.csv"), (None, "bob.jsonl")], key)
    summary = run(key_path, files)      # also writes agreement.json and labels.jsonl

A rater file is the package's items.csv or items.jsonl with `label` filled in (A, B or tie,
any case; empty: not labelled, counted). Its rater is the row's `rater` column, else the name
given with the file (NAME=PATH on the command line); a row with neither is an error. Every
row is checked before anything is computed, and all bad rows are reported together, each with
file, row (the spreadsheet's row number for CSV, the line for JSONL), value and what is
allowed: labels outside A / B / tie, item ids not in the key, a second label by the same
rater for an item, a language that is not the item's.

Where the results go: `out_dir` if given, else RESULTS_DIR/human/ when the package was
exported from a study (the study report reads RESULTS_DIR/human/agreement.json), else the
package directory (next to key.json). Written: agreement.json (pinchjax.judge.agreement's
summary, plus the rater files and their unlabelled counts) and labels.jsonl (every label,
mapped back from slots to runs).
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Iterator, Sequence

from pinchjax import atomic_file
from pinchjax.judge import agreement
from pinchjax.judge import human_export
from pinchjax.judge import records

HUMAN_DIR = "human"  # in a study's results directory
SUMMARY = "agreement.json"
LABELS_FILE = "labels.jsonl"
_ALLOWED = {label.lower(): label for label in human_export.SLOT_LABELS}
_MAX_SHOWN = 30


def _rows(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
  """("file row N" / "file:line", row) of a CSV or JSONL rater file."""
  if path.endswith(".jsonl"):
    for where, obj in records.iter_jsonl(path):
      if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
      yield where, obj
    return
  if not path.endswith(".csv"):
    raise ValueError(f"{path}: a rater file must be .csv or .jsonl")
  with open(path, encoding="utf-8-sig", newline="") as f:
    reader = csv.DictReader(f)
    missing = [c for c in ("item_id", "label") if c not in (reader.fieldnames or ())]
    if missing:
      raise ValueError(f"{path}: missing columns {missing} (header: {reader.fieldnames})")
    for n, row in enumerate(reader, 2):  # row 1 is the header, as a spreadsheet numbers it
      yield f"{path} row {n}", row


def _text(row: dict[str, Any], column: str) -> str:
  value = row.get(column)
  return "" if value is None else str(value).strip()


def read_labels(files: Sequence[tuple[str | None, str]], key: dict[str, Any]
                ) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
  """Labels mapped to runs ({item_id, lang, rater, label, slot_label, where}) and, per file,
  unlabelled rows per rater. Raises ValueError listing every bad row."""
  items = {k["item_id"]: k for k in key["items"]}
  allowed = ", ".join(human_export.SLOT_LABELS)
  errors: list[str] = []
  seen: dict[tuple[str, str], str] = {}  # (rater, item) -> where it was labelled
  labels, unlabelled = [], {}
  for name, path in files:
    skipped = unlabelled.setdefault(path, {})
    for where, row in _rows(path):
      if not any(_text(row, c) for c in row):  # a blank row a spreadsheet left at the end
        continue
      item_id, value = _text(row, "item_id"), _text(row, "label")
      rater = _text(row, "rater") or name
      if item_id not in items:
        errors.append(f"{where}: item_id {item_id!r} is not in the key")
        continue
      lang = _text(row, "language")
      if lang and lang != items[item_id]["lang"]:
        errors.append(f"{where}: language {lang!r} but item {item_id} is "
                      f"{items[item_id]['lang']!r}")
      if not rater:
        errors.append(f"{where}: no rater: fill the rater column or name the file's rater "
                      "(NAME=PATH)")
        continue
      if not value:
        skipped[rater] = skipped.get(rater, 0) + 1
        continue
      if value.lower() not in _ALLOWED:
        errors.append(f"{where}: label {value!r} is not one of {allowed}")
        continue
      if (rater, item_id) in seen:
        errors.append(f"{where}: rater {rater!r} already labelled {item_id} at "
                      f"{seen[(rater, item_id)]}")
        continue
      seen[(rater, item_id)] = where
      slot = _ALLOWED[value.lower()]
      labels.append({"item_id": item_id, "lang": items[item_id]["lang"], "rater": rater,
                     "slot_label": slot, "label": _unshuffle(slot, items[item_id]["a"]),
                     "where": where})
  if errors:
    more = len(errors) - _MAX_SHOWN
    raise ValueError(f"{len(errors)} bad rows in the rater files:\n  "
                     + "\n  ".join(errors[:_MAX_SHOWN])
                     + (f"\n  ... and {more} more" if more > 0 else ""))
  return labels, unlabelled


def _unshuffle(slot: str, run_in_a: str) -> str:
  """A slot label as a label of runs, given which run the rater saw as A."""
  if slot == "tie":
    return agreement.TIE
  other = agreement.BASELINE if run_in_a == agreement.CANDIDATE else agreement.CANDIDATE
  return run_in_a if slot == "A" else other


def rated(key: dict[str, Any], labels: Sequence[dict[str, Any]]) -> list[agreement.Rated]:
  humans: dict[str, dict[str, str]] = {}
  for label in labels:
    humans.setdefault(label["item_id"], {})[label["rater"]] = label["label"]
  return [agreement.Rated(k["item_id"], k["lang"], k["judge"], humans.get(k["item_id"], {}))
          for k in key["items"]]


def out_dir_for(key_path: str, key: dict[str, Any]) -> str:
  return (os.path.join(key["study"], HUMAN_DIR) if key.get("study")
          else os.path.dirname(os.path.abspath(key_path)))


def run(key_path: str, files: Sequence[tuple[str | None, str]], out_dir: str | None = None,
        n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
  """Reads the rater files, writes agreement.json and labels.jsonl; returns the summary."""
  with open(key_path, encoding="utf-8") as f:
    key = json.load(f)
  labels, unlabelled = read_labels(files, key)
  summary = agreement.summarize(rated(key, labels), n_boot=n_boot, seed=seed)
  summary.update(key=os.path.abspath(key_path), files=[path for _, path in files],
                 unlabelled=unlabelled, labels_read=len(labels))
  out = out_dir or out_dir_for(key_path, key)
  os.makedirs(out, exist_ok=True)
  atomic_file.write_jsonl(os.path.join(out, LABELS_FILE), labels)
  atomic_file.write_json(os.path.join(out, SUMMARY), summary)
  return summary
