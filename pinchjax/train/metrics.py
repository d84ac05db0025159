"""Training metrics: TensorBoard event files (clu), a JSONL log and a progress line.

Only the primary process writes. JSONL lines look like
  {"step": 100, "split": "train", "loss": 2.31, "learning_rate": 0.001, ...}
  {"step": 100, "split": "eval", "eval/loss/en": 2.40, ...}
A resumed run first cuts metrics.jsonl back to its restored step (`truncate_jsonl`).
TensorBoard event files are append-only: each process writes its own, so steps that a
killed run logged past its last checkpoint stay in that run's file next to the rerun's.
"""
from __future__ import annotations

import json
import os
import time
from typing import Mapping

import jax
from clu import metric_writers

from pinchjax import atomic_file


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def truncate_jsonl(path: str, step: int) -> None:
  """Keeps the rows of `path` up to `step` (the step a run resumes from), atomically.

  A killed run logged steps past its last checkpoint; the resumed run logs them again, so
  they are dropped here and the file reads as one uninterrupted run. A last line without
  its newline is a write the kill cut short and goes too; any other bad line is an error.
  """
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    lines = f.readlines()
  keep = []
  for number, line in enumerate(lines, 1):
    if not line.endswith("\n") and number == len(lines):
      break
    try:
      row_step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"{path}:{number}: not a metrics row ({e}); move the file away to "
                       "start a new log") from e
    if row_step <= step:
      keep.append(line)
  if len(keep) < len(lines):
    atomic_file.write(path, keep)


class MetricsLogger:
  """Writes scalars to `logdir` (events + metrics.jsonl) and prints a progress line."""

  def __init__(self, logdir: str, total_steps: int, start_step: int = 0):
    self.primary = jax.process_index() == 0
    self.total_steps = total_steps
    self.jsonl_path = os.path.join(logdir, "metrics.jsonl")
    self._writer = metric_writers.create_default_writer(
        logdir, just_logging=not self.primary, asynchronous=False)
    if self.primary:
      os.makedirs(logdir, exist_ok=True)
      truncate_jsonl(self.jsonl_path, start_step)
    self._jsonl = open(self.jsonl_path, "a", encoding="utf-8") if self.primary else None
    self._clock = (time.perf_counter(), start_step)

  def write(self, step: int, split: str, scalars: Mapping[str, float]) -> None:
    scalars = {k: float(v) for k, v in scalars.items()}
    if not self.primary:
      return
    self._writer.write_scalars(step, scalars)
    self._jsonl.write(json.dumps({"step": step, "split": split, **scalars}) + "\n")
    self._jsonl.flush()

  def progress(self, step: int, scalars: Mapping[str, float]) -> str:
    """Prints `step k/n  loss  lr  steps/s  tokens/s  MFU  ETA`; returns the line."""
    now = time.perf_counter()
    start, start_step = self._clock
    rate = (step - start_step) / max(now - start, 1e-9)
    eta = (self.total_steps - step) / rate if rate > 0 else float("inf")
    parts = [f"step {step}/{self.total_steps}", f"loss {scalars['loss']:.4f}",
             f"lr {scalars['learning_rate']:.3g}", f"{rate:.2f} steps/s"]
    if "tokens_per_sec" in scalars:
      parts.append(f"{scalars['tokens_per_sec']:.0f} tokens/s")
    if "mfu" in scalars:
      parts.append(f"MFU {100 * scalars['mfu']:.1f}%")
    parts.append(f"ETA {format_duration(eta) if eta != float('inf') else '?'}")
    line = "  ".join(parts)
    if self.primary:
      print(line, flush=True)
    return line

  def close(self) -> None:
    self._writer.flush()
    self._writer.close()
    if self._jsonl:
      self._jsonl.close()
