"""Two processes on localhost (CPU collectives over gloo) train like one process."""
import os
import socket
import subprocess

import jax
import numpy as np

from pinchjax.train import checkpoint, load
from test_train_support import (REFERENCE_STEPS, REPO, cli_command, read_metrics,  # noqa: F401
                                reference_run, subprocess_env, tiny_data)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_on_the_same_global_batch(tiny_data, reference_run,
                                                                  tmp_path):
  model_dir = str(tmp_path / "run")
  port = free_port()
  procs = []
  for pid in range(2):  # 2 processes x 4 devices = the reference's 8 devices, batch 8 rows
    env = subprocess_env(4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2",
                         JAX_PROCESS_ID=str(pid), JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    log = open(tmp_path / f"process{pid}.log", "w")
    procs.append(subprocess.Popen(
        cli_command(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=4), cwd=REPO,
        env=env, stdout=log, stderr=subprocess.STDOUT))
  for pid, proc in enumerate(procs):
    assert proc.wait(timeout=600) == 0, open(tmp_path / f"process{pid}.log").read()[-3000:]
  assert "8 devices" in open(tmp_path / "process0.log").read()

  metrics = read_metrics(model_dir)  # written once, by process 0
  assert [m["step"] for m in metrics] == list(range(1, REFERENCE_STEPS + 1))
  for m, ref in zip(metrics, reference_run["metrics"]):
    np.testing.assert_allclose(m["loss"], ref["loss"], rtol=0, atol=1e-5)
    assert m["loss_tokens"] == ref["loss_tokens"]
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  ckpt = checkpoint.Checkpointer(ckpt_dir)
  assert ckpt.all_steps() == [4, 8, 12]
  ckpt.close()
  two, _ = load.load_model(ckpt_dir)
  one, _ = load.load_model(os.path.join(reference_run["model_dir"], "checkpoints"))
  for a, b in zip(jax.tree.leaves(two), jax.tree.leaves(one)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
