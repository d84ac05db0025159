"""SIGTERM (preemption, `scancel`, `kill`) turns into a flag the trainer checks.

`train` checks it between its set-up phases (after each, on every host at the same point)
and after every step, so a SIGTERM at any moment of a run ends it cleanly: it saves a
checkpoint if steps ran since the last save, nothing otherwise, and returns.
"""
from __future__ import annotations

import os
import signal
import threading
import types


class PreemptionGuard:
  """While active, SIGTERM sets `requested` instead of killing the process.

  On several hosts every process receives the signal (the TPU/Slurm runtime sends it to all
  workers), and the trainer agrees on it across hosts (`distributed.any_process`) before
  acting, so all hosts stop at the same point and save the same step.

  Guards nest: an inner guard starts `requested` if an enclosing one already was (the CLI
  enters one before gin imports the trainer, which takes seconds; `train` enters its own).
  """

  def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM,)):
    self.requested = False
    self._signals = signals
    self._previous: dict[int, object] = {}

  def _handle(self, signum: int, frame: types.FrameType | None) -> None:
    del frame
    if not self.requested:
      # os.write, not print: print here may interrupt a print of the main thread, and
      # re-entering a buffered stream raises.
      os.write(2, f"received {signal.Signals(signum).name}: stopping at the next safe point\n"
               .encode())
    self.requested = True

  def __enter__(self) -> "PreemptionGuard":
    if threading.current_thread() is not threading.main_thread():
      return self  # Python only delivers signals to the main thread; nothing to install.
    for sig in self._signals:
      previous = signal.signal(sig, self._handle)
      self._previous[sig] = previous
      outer = getattr(previous, "__self__", None)
      if isinstance(outer, PreemptionGuard) and outer.requested:
        self.requested = True
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
