"""A study launched on 2 processes (jax.distributed over localhost, gloo): train steps SPMD on
both, decodes split over them, everything else on process 0; killed midway and relaunched, it
finishes with the single-process run's outputs and report."""
import os
import signal
import time

from study_scale_support import (CELLS, cell, generations, manifest, report_text,  # noqa: F401
                                 sequential_study, start_study, study_file)
from test_train_multiprocess import free_port


def _launch(gin_file, results, tmp_path, attempt):
  port, procs = free_port(), []
  for pid in range(2):
    log = open(tmp_path / f"{attempt}.process{pid}.log", "w")
    procs.append(start_study(gin_file, results, log=log,
                             JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2",
                             JAX_PROCESS_ID=str(pid), JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo"))
  return procs


def _log(tmp_path, attempt, pid):
  return (tmp_path / f"{attempt}.process{pid}.log").read_text()


def test_two_process_study_is_killed_resumed_and_equals_one_process(sequential_study, tmp_path):
  gin_file, results = study_file(tmp_path), tmp_path / "results"
  first = _launch(gin_file, results, tmp_path, "first")
  deadline = time.time() + 600
  while time.time() < deadline:  # kill process 1 once the first model is trained
    if (results / "manifest.json").exists():
      if manifest(results)["steps"].get("train/mono_en_s0", {}).get("status") == "done":
        break
    assert first[1].poll() is None, _log(tmp_path, "first", 1)[-3000:]
    time.sleep(0.2)
  first[1].send_signal(signal.SIGKILL)
  try:  # process 0 loses its peer; a launcher would end it if JAX does not
    first[0].wait(timeout=60)
  except Exception:  # pylint: disable=broad-except
    first[0].send_signal(signal.SIGKILL)
    first[0].wait()
  done_before = {k for k, v in manifest(results)["steps"].items() if v["status"] == "done"}
  assert {"data", "train/mono_en_s0"} <= done_before and len(done_before) < 11

  second = _launch(gin_file, results, tmp_path, "second")
  codes = [proc.wait(timeout=900) for proc in second]
  for pid in range(2):
    assert codes[pid] == 0, _log(tmp_path, "second", pid)[-4000:]
  out0, out1 = _log(tmp_path, "second", 0), _log(tmp_path, "second", 1)
  assert f"{11 - len(done_before)} steps ran, {len(done_before)} reused, 0 failed" in out0
  assert "process 0 writes the report" in out1 and "report:" not in out1
  assert "x 2 devices" in out0  # training spanned both processes' devices

  steps = manifest(results)["steps"]
  assert all(v["status"] == "done" for v in steps.values())
  assert all(steps[k]["runs"] == 1 for k in done_before)  # nothing finished was redone
  assert report_text(results) == report_text(sequential_study)
  for model, lang in CELLS:
    assert generations(results, model, lang) == generations(sequential_study, model, lang)
    assert cell(results, model, lang) == cell(sequential_study, model, lang)
    parts = []  # each process decoded half of the rows
    for pid in range(2):
      with open(results / "steps" / "infer" / model / lang /
                f"generations.part{pid}-of-2.jsonl") as f:
        parts.append(sorted(f))
    assert abs(len(parts[0]) - len(parts[1])) <= 1 and not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == generations(results, model, lang)
