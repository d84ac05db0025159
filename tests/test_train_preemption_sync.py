"""On several processes the loop agrees on a SIGTERM only at sync points (every
`preemption_sync_every` steps, checkpoints, the last step), never once per step; a SIGTERM
still ends the run with a saved checkpoint at the next sync point."""
import inspect
import os
import signal
import threading
import time

from pinchjax.checkpoints import checkpointer as checkpoint
from pinchjax.train import distributed
from test_train_support import read_metrics, tiny_data, train_in_process  # noqa: F401


def _as_if_multi_process(monkeypatch) -> list[int]:
  """Makes the loop behave as on several processes; returns the loop's agreement steps."""
  agreed = []
  agree = distributed.any_process

  def counting(flag):
    frame = inspect.stack()[1].frame
    if frame.f_code.co_name == "_loop":
      agreed.append(frame.f_locals["step"])
    return agree(flag)

  monkeypatch.setattr(distributed, "multi_process", lambda: True)
  monkeypatch.setattr(distributed, "any_process", counting)
  return agreed


def test_loop_agrees_only_at_sync_points_and_checkpoints(tiny_data, tmp_path, monkeypatch):
  agreed = _as_if_multi_process(monkeypatch)
  result = train_in_process(tiny_data, str(tmp_path / "run"), 13, checkpoint_every=3,
                            preemption_sync_every=5)
  assert result.step == 13 and not result.preempted
  assert agreed == [3, 5, 6, 9, 10, 12, 13]


def test_sigterm_stops_at_the_next_sync_point_with_a_checkpoint(tiny_data, tmp_path,
                                                                monkeypatch):
  _as_if_multi_process(monkeypatch)
  model_dir = str(tmp_path / "run")
  metrics = os.path.join(model_dir, "metrics.jsonl")
  sent = []

  def preempt():
    while not (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 2):
      time.sleep(0.05)
    sent.append(sum(1 for _ in open(metrics)))
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=preempt, daemon=True).start()
  result = train_in_process(tiny_data, model_dir, 1000, checkpoint_every=1000,
                            preemption_sync_every=4)
  assert result.preempted and result.step % 4 == 0 and sent[0] <= result.step < 1000
  ckpt = checkpoint.Checkpointer(result.checkpoint_dir)
  assert ckpt.all_steps() == [result.step]
  ckpt.close()
  assert read_metrics(model_dir)[-1]["step"] == result.step
