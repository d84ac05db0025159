"""Training metrics: TensorBoard event files (clu), a JSONL log and a progress line.

Only the primary process writes. JSONL lines look like
  {"step": 100, "split": "train", "loss": 2.31, "learning_rate": 0.001, ...}
  {"step": 100, "split": "eval", "eval/loss/en": 2.40, ...}
"""
from __future__ import annotations

import json
import os
import time
from typing import Mapping

import jax
from clu import metric_writers


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


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
