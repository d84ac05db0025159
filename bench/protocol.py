"""The protocol every bench follows, so that a busy host cannot flatter either side.

- `Host` records the load average and CPU count before and after the measurement, and
  warns (in the JSON and on stderr) when the 1-minute load before was above half the cores:
  PyTorch's threads suffer more than XLA's from other load, so such ratios overstate ours.
- `alternate` times the contenders in alternating rounds, so load that comes and goes hits
  them alike; each reports its fastest round (least disturbed) and its median.
- `torch_thread_counts` / `torch_threads` run the PyTorch peer at 1 thread and at torch's
  default, and the bench reports the faster: one thread can win on a loaded host.

Benches run as scripts (`python bench/x.py`), so `bench/` is on sys.path and they import
this module as `protocol`.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterator

BUSY_FRACTION = 0.5  # 1-minute load above this fraction of the cores: the host was busy


def snapshot() -> dict[str, Any]:
  return {"load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
          "cpu_count": os.cpu_count()}


def settle(max_s: float = 180.0, poll_s: float = 5.0) -> float:
  """Waits (at most `max_s`) until the 1-minute load is no longer busy, e.g. after a previous
  run of the same bench; returns the seconds waited. The load average trails the work by about
  a minute, so back-to-back runs would otherwise each start on the last one's load."""
  start = time.monotonic()
  while (os.getloadavg()[0] > BUSY_FRACTION * (os.cpu_count() or 1)
         and time.monotonic() - start < max_s):
    time.sleep(poll_s)
  return round(time.monotonic() - start, 1)


class Host:
  """Load and CPUs before (at construction) and after (`report`) a measurement."""

  def __init__(self):
    self.before = snapshot()

  def report(self) -> dict[str, Any]:
    """The `host` entry of a bench's JSON; warns on stderr when the host was busy."""
    out = {"before": self.before, "after": snapshot()}
    load, cpus = self.before["load_average_1_5_15"][0], self.before["cpu_count"] or 1
    if load > BUSY_FRACTION * cpus:
      out["warning"] = (f"busy host: 1-minute load {load} before the run on {cpus} CPUs "
                        f"(> {BUSY_FRACTION} x cores): not quiet-machine figures")
      print(f"WARNING: {out['warning']}", file=sys.stderr)
    return out


def alternate(runs: dict[str, Callable[[], Any]], rounds: int, calls_per_round: int = 1,
              warmup: int = 1) -> dict[str, list[float]]:
  """Seconds per call of each run, per round; rounds alternate between the runs after
  `warmup` untimed calls of each (which compile)."""
  for run in runs.values():
    for _ in range(warmup):
      run()
  times: dict[str, list[float]] = {name: [] for name in runs}
  for _ in range(rounds):
    for name, run in runs.items():
      start = time.perf_counter()
      for _ in range(calls_per_round):
        run()
      times[name].append((time.perf_counter() - start) / calls_per_round)
  return times


def summary(seconds: list[float]) -> dict[str, float]:
  return {"best_s": min(seconds), "median_s": statistics.median(seconds)}


def torch_thread_counts() -> list[int]:
  """1 and torch's default thread count (the host's cores unless the user set it)."""
  import torch  # pylint: disable=import-outside-toplevel
  return sorted({1, torch.get_num_threads()})


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
  import torch  # pylint: disable=import-outside-toplevel
  old = torch.get_num_threads()
  torch.set_num_threads(n)
  try:
    yield
  finally:
    torch.set_num_threads(old)


def with_torch_threads(run: Callable[[], Any], n: int) -> Callable[[], Any]:
  """`run` executed with `n` torch threads."""
  def threaded():
    with torch_threads(n):
      return run()
  return threaded


def best_torch(times: dict[str, list[float]], prefix: str = "pytorch_threads_"
               ) -> tuple[str, float]:
  """(name, best seconds) of the fastest PyTorch thread setting in `alternate`'s output."""
  best = {k: min(v) for k, v in times.items() if k.startswith(prefix)}
  name = min(best, key=best.get)
  return name, best[name]
