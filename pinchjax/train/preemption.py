"""SIGTERM (preemption, `scancel`, `kill`) turns into a flag the train loop checks each step."""
from __future__ import annotations

import signal
import threading
import types


class PreemptionGuard:
  """While active, SIGTERM sets `requested` instead of killing the process.

  The loop then saves a checkpoint at the current step and returns. On several hosts every
  process receives the signal (the TPU/Slurm runtime sends it to all workers), and the loop
  agrees on it across hosts before saving, so all hosts save the same step.
  """

  def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM,)):
    self.requested = False
    self._signals = signals
    self._previous: dict[int, object] = {}

  def _handle(self, signum: int, frame: types.FrameType | None) -> None:
    del frame
    self.requested = True
    print(f"received signal {signal.Signals(signum).name}: saving a checkpoint and stopping",
          flush=True)

  def __enter__(self) -> "PreemptionGuard":
    if threading.current_thread() is not threading.main_thread():
      return self  # Python only delivers signals to the main thread; nothing to install.
    for sig in self._signals:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
