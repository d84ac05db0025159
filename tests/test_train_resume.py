"""Preemption: a run killed with SIGKILL resumes exactly; SIGTERM saves and stops cleanly."""
import os
import signal
import subprocess
import threading
import time

import numpy as np

from pinchjax.train import checkpoint
from test_train_support import (REFERENCE_STEPS, REPO, cli_command, read_metrics,  # noqa: F401
                                reference_run, subprocess_env, tiny_data, train_in_process)


def by_step(records):
  return {r["step"]: r for r in records}


def test_sigkill_then_resume_reproduces_every_step(tiny_data, reference_run, tmp_path):
  model_dir = str(tmp_path / "run")
  log = open(tmp_path / "killed.log", "w")
  proc = subprocess.Popen(cli_command(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=2),
                          cwd=REPO, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
  first = os.path.join(model_dir, "checkpoints", "2")  # orbax renames it there once committed
  while not os.path.isdir(first) and proc.poll() is None:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait(timeout=60) == -signal.SIGKILL, open(tmp_path / "killed.log").read()[-3000:]
  ckpt = checkpoint.Checkpointer(os.path.join(model_dir, "checkpoints"))
  killed_at = ckpt.latest_step()
  ckpt.close()
  assert 2 <= killed_at < REFERENCE_STEPS
  before = read_metrics(model_dir)

  result = train_in_process(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=2)
  assert result.step == REFERENCE_STEPS
  after = read_metrics(model_dir)[len(before):]
  assert [r["step"] for r in after] == list(range(killed_at + 1, REFERENCE_STEPS + 1))
  reference = by_step(reference_run["metrics"])
  for r in before + after:  # the killed run's steps and the resumed ones
    np.testing.assert_allclose(r["loss"], reference[r["step"]]["loss"], rtol=0, atol=1e-6)
    assert r["loss_tokens"] == reference[r["step"]]["loss_tokens"]
  states = []
  for d in (model_dir, reference_run["model_dir"]):
    ckpt = checkpoint.Checkpointer(os.path.join(d, "checkpoints"))
    states.append(ckpt.data_state(REFERENCE_STEPS))
    ckpt.close()
  assert states[0] == states[1] and states[0]["train"]["batches"] == REFERENCE_STEPS


def test_sigterm_saves_a_checkpoint_and_returns(tiny_data, tmp_path):
  model_dir = str(tmp_path / "run")
  metrics = os.path.join(model_dir, "metrics.jsonl")

  def preempt():  # SIGTERM this process once three steps are logged
    while not (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 3):
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=preempt, daemon=True).start()
  result = train_in_process(tiny_data, model_dir, 1000, checkpoint_every=1000)
  assert result.preempted and 3 <= result.step < 1000
  ckpt = checkpoint.Checkpointer(result.checkpoint_dir)
  assert ckpt.all_steps() == [result.step]
  assert ckpt.data_state()["train"]["batches"] == result.step
  ckpt.close()
  assert read_metrics(model_dir)[-1]["step"] == result.step
