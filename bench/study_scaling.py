"""Study wall time with 1 and 2 concurrent workers: the Ray executor on a local cluster of 1
and then 2 CPUs (one step per CPU), the same study, fresh results directories.

    python bench/study_scaling.py [--study gin/studies/toy_demo.gin] [--gin X=Y ...]

Prints JSON: each run's wall time and per-kind step seconds (from its manifest), the ratio
1-worker / 2-worker wall time, and the 1/5/15-minute load averages before and after each run
(a busy machine makes the ratio smaller than the study's parallelism allows). Each run first
waits (up to 3 min) for the 1-minute load to fall to half the cores. `--gin`
overrides reach the study as `--gin.X=Y` (e.g. `Study.seeds=[0]`).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

import protocol

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_study(study: str, results: str, workers: int, gin: list[str]) -> dict:
  waited = protocol.settle()  # the previous run's load must not count against this one
  host = protocol.Host()
  start = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, "-m", "pinchjax.cli", "study", study, "--results", results,
       "--executor", "ray", f"--gin.StudyExecutor.ray_num_cpus={workers}",
       *[f"--gin.{g}" for g in gin]], cwd=REPO, capture_output=True, text=True,
      env=dict(os.environ, XLA_FLAGS="", PYTHONPATH=REPO))
  wall = time.perf_counter() - start
  if proc.returncode:
    raise SystemExit(f"the study with {workers} workers failed:\n{proc.stdout[-3000:]}")
  with open(os.path.join(results, "manifest.json"), encoding="utf-8") as f:
    steps = json.load(f)["steps"].values()
  per_kind: dict[str, float] = collections.defaultdict(float)
  for e in steps:
    per_kind[e["kind"]] += e["seconds"]
  return {"workers": workers, "settle_wait_s": waited, "wall_s": round(wall, 1),
          "steps": len(steps),
          "step_seconds_by_kind": {k: round(v, 1) for k, v in sorted(per_kind.items())},
          "host": host.report()}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  p.add_argument("--study", default="gin/studies/toy_demo.gin")
  p.add_argument("--gin", action="append", default=[], help="X=Y: a study override")
  a = p.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    runs = [run_study(a.study, os.path.join(tmp, f"w{n}"), n, a.gin) for n in (1, 2)]
  print(json.dumps({"study": a.study, "overrides": a.gin, "cpus": os.cpu_count(),
                    "runs": runs, "ratio_1_over_2": round(runs[0]["wall_s"] / runs[1]["wall_s"],
                                                          2)}, indent=1))


if __name__ == "__main__":
  main()
