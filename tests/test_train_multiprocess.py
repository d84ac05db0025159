"""Two processes on localhost (CPU collectives over gloo) train like one process and stop
together when either gets SIGTERM."""
import os
import signal
import socket
import subprocess
import time

import jax
import numpy as np

from pinchjax.checkpoints import checkpointer as checkpoint, load
from test_train_support import (REFERENCE_STEPS, REPO, cli_command, read_metrics,  # noqa: F401
                                reference_run, subprocess_env, tiny_data)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start_two(tiny_data, model_dir, tmp_path, num_steps=REFERENCE_STEPS,
              **train) -> list[subprocess.Popen]:
  """Two CLI processes of one run, logging to tmp_path/process<i>.log."""
  port, procs = free_port(), []
  for pid in range(2):  # 2 processes x 4 devices = the reference's 8 devices, batch 8 rows
    env = subprocess_env(4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}", JAX_NUM_PROCESSES="2",
                         JAX_PROCESS_ID=str(pid), JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    log = open(tmp_path / f"process{pid}.log", "w")
    procs.append(subprocess.Popen(cli_command(tiny_data, model_dir, num_steps, **train),
                                  cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
  return procs


def test_two_processes_match_one_process_on_the_same_global_batch(tiny_data, reference_run,
                                                                  tmp_path):
  model_dir = str(tmp_path / "run")
  procs = start_two(tiny_data, model_dir, tmp_path, checkpoint_every=4)
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


def test_sigterm_to_one_process_during_set_up_stops_both(tiny_data, tmp_path):
  model_dir = str(tmp_path / "run")
  procs = start_two(tiny_data, model_dir, tmp_path)
  log1 = tmp_path / "process1.log"
  while procs[1].poll() is None and "compiling the train step" not in log1.read_text():
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGTERM)  # process 0 gets none: it must stop where 1 does
  codes = [proc.wait(timeout=300) for proc in procs]
  for pid in range(2):
    out = open(tmp_path / f"process{pid}.log").read()
    assert codes[pid] == 0, out[-3000:]
    assert ("preempted before training: nothing to save, no step had run; rerun the same "
            "command to start the run") in out, out[-3000:]
    assert "step 1/" not in out
  assert ("received SIGTERM" in log1.read_text()
          and "received SIGTERM" not in (tmp_path / "process0.log").read_text())


def test_sigterm_to_one_process_mid_training_stops_both_at_the_next_sync_point(tiny_data,
                                                                               tmp_path):
  # 1000 steps, checkpoints every 1000: the only stops are the sync points every 4 steps.
  model_dir = str(tmp_path / "run")
  procs = start_two(tiny_data, model_dir, tmp_path, num_steps=1000, checkpoint_every=1000,
                    preemption_sync_every=4)
  metrics = os.path.join(model_dir, "metrics.jsonl")
  while procs[1].poll() is None and not (os.path.exists(metrics)
                                         and len(read_metrics(model_dir)) >= 2):
    time.sleep(0.05)
  signalled_after = len(read_metrics(model_dir))
  procs[1].send_signal(signal.SIGTERM)
  codes = [proc.wait(timeout=300) for proc in procs]
  saved = []
  for pid in range(2):
    out = open(tmp_path / f"process{pid}.log").read()
    assert codes[pid] == 0, out[-3000:]
    saved.append(int(out.split("preempted: saved step ")[1].split()[0]))
  assert saved[0] == saved[1] and saved[0] % 4 == 0 and saved[0] >= signalled_after
  ckpt = checkpoint.Checkpointer(os.path.join(model_dir, "checkpoints"))
  assert ckpt.all_steps() == [saved[0]]
  ckpt.close()
