"""Preemption: a run killed with SIGKILL resumes exactly; SIGTERM at any point of a run (set-up
or training) exits 0, saving what is new, and the rerun carries on as if never stopped."""
import os
import signal
import subprocess
import time

import numpy as np

from pinchjax.checkpoints import checkpointer as checkpoint
from test_train_support import (REFERENCE_STEPS, REPO, cli_command, read_metrics,  # noqa: F401
                                reference_run, subprocess_env, tiny_data, train_in_process)


def by_step(records):
  return {r["step"]: r for r in records}


def saved_steps(model_dir):
  ckpt = checkpoint.Checkpointer(os.path.join(model_dir, "checkpoints"))
  try:
    return ckpt.all_steps()
  finally:
    ckpt.close()


def assert_matches_reference(model_dir, reference_run):
  """metrics.jsonl holds every step once, with the uninterrupted run's losses."""
  metrics = read_metrics(model_dir)
  assert [r["step"] for r in metrics] == list(range(1, REFERENCE_STEPS + 1))
  for r, ref in zip(metrics, reference_run["metrics"]):
    np.testing.assert_allclose(r["loss"], ref["loss"], rtol=0, atol=1e-6)
    assert r["loss_tokens"] == ref["loss_tokens"]


def sigterm_at(tiny_data, model_dir, line_start, **train):
  """Runs the CLI and sends it SIGTERM once a stdout line starts with `line_start`;
  returns (exit status, output)."""
  proc = subprocess.Popen(cli_command(tiny_data, model_dir, REFERENCE_STEPS, **train), cwd=REPO,
                          env=subprocess_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  out = []
  for line in proc.stdout:
    out.append(line)
    if line.startswith(line_start):
      proc.send_signal(signal.SIGTERM)
      break
  out += proc.stdout.readlines()
  return proc.wait(timeout=120), "".join(out)


def test_sigkill_then_resume_reproduces_every_step(tiny_data, reference_run, tmp_path):
  model_dir = str(tmp_path / "run")
  log = open(tmp_path / "killed.log", "w")
  proc = subprocess.Popen(cli_command(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=4),
                          cwd=REPO, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
  first = os.path.join(model_dir, "checkpoints", "4")  # orbax renames it there once committed
  metrics = os.path.join(model_dir, "metrics.jsonl")
  # Killed once steps past checkpoint 4 are logged: the rerun logs those steps again.
  while proc.poll() is None and not (os.path.isdir(first) and os.path.exists(metrics)
                                     and sum(1 for _ in open(metrics)) >= 6):
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait(timeout=60) == -signal.SIGKILL, open(tmp_path / "killed.log").read()[-3000:]
  killed_at = max(saved_steps(model_dir))
  assert 4 <= killed_at < REFERENCE_STEPS
  assert max(r["step"] for r in read_metrics(model_dir)) > killed_at

  result = train_in_process(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=4)
  assert result.step == REFERENCE_STEPS
  assert_matches_reference(model_dir, reference_run)
  states = []
  for d in (model_dir, reference_run["model_dir"]):
    ckpt = checkpoint.Checkpointer(os.path.join(d, "checkpoints"))
    states.append(ckpt.data_state(REFERENCE_STEPS))
    ckpt.close()
  assert states[0] == states[1] and states[0]["train"]["batches"] == REFERENCE_STEPS
  # Neither an interrupted orbax save nor a metrics rewrite leaves a temporary behind.
  leftovers = [f for root, dirs, files in os.walk(model_dir) for f in dirs + files
               if "tmp" in f]
  assert leftovers == []


def test_sigterm_in_each_phase_exits_0_and_the_rerun_matches(tiny_data, reference_run,
                                                             tmp_path):
  model_dir = str(tmp_path / "run")
  # 1. While the data loads (no train state yet): nothing to save.
  rc, out = sigterm_at(tiny_data, model_dir, "loading tiny_pinch_p100")
  assert rc == 0, out[-3000:]
  assert ("preempted before training: nothing to save, no step had run; rerun the same "
          "command to start the run") in out
  assert saved_steps(model_dir) == []
  assert not os.path.exists(os.path.join(model_dir, "metrics.jsonl"))

  # 2. Mid-training: the current step is saved with its data position.
  rc, out = sigterm_at(tiny_data, model_dir, "step 3/", checkpoint_every=1000)
  assert rc == 0, out[-3000:]
  [step] = saved_steps(model_dir)
  assert 3 <= step < REFERENCE_STEPS
  assert (f"preempted: saved step {step} in {model_dir}/checkpoints; rerun the same command "
          f"to resume from it") in out
  ckpt = checkpoint.Checkpointer(os.path.join(model_dir, "checkpoints"))
  assert ckpt.data_state()["train"]["batches"] == step
  ckpt.close()
  assert read_metrics(model_dir)[-1]["step"] == step

  # 3. While the resumed run compiles: the restored step is already on disk.
  rc, out = sigterm_at(tiny_data, model_dir, "compiling the train step", checkpoint_every=1000)
  assert rc == 0, out[-3000:]
  assert f"resumed from step {step} " in out
  assert (f"preempted before training: nothing to save, step {step} is already saved in "
          f"{model_dir}/checkpoints; rerun the same command to resume from it") in out
  assert saved_steps(model_dir) == [step]

  # 4. The rerun finishes as if the run had never stopped.
  result = train_in_process(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=1000)
  assert result.step == REFERENCE_STEPS and not result.preempted
  assert_matches_reference(model_dir, reference_run)
