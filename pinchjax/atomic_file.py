"""Files that a reader, or a killed writer, never sees half-written.

The data goes to `.<name>.tmp-<host>-<pid>` next to `path` and is renamed over it. A failed
write (any exception, KeyboardInterrupt and SystemExit included) removes its temporary file;
one left by a process killed outright (SIGKILL, power loss) is removed by the next write of
the same `path` on the same host once that process is gone (a live writer's, or another
host's on a shared filesystem, is left alone).
"""
from __future__ import annotations

import glob
import os
import socket
from typing import Iterable


def temp_path(path: str, pid: int | None = None) -> str:
  """The temporary file that process `pid` (default: this one) writes `path` through."""
  head, name = os.path.split(path)
  return os.path.join(head, f".{name}.tmp-{socket.gethostname()}-"
                            f"{os.getpid() if pid is None else pid}")


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # another user's live process
  return True


def remove_stale_temps(path: str) -> list[str]:
  """Removes this host's temporary files of `path` whose writer has exited; returns them.

  Also those named `<path>.tmp<pid>`, as writers before the current naming left them.
  """
  removed = []
  for prefix in (temp_path(path, 0)[:-1], f"{path}.tmp"):
    for tmp in glob.glob(glob.escape(prefix) + "*"):
      pid = tmp[len(prefix):]
      if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
        continue
      try:
        os.remove(tmp)
        removed.append(tmp)
      except FileNotFoundError:
        pass  # another writer removed it first
  return removed


def write(path: str, chunks: Iterable[str]) -> None:
  """Writes `chunks` (as given, UTF-8) to a temporary file, syncs it, and renames it to `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  remove_stale_temps(path)
  tmp = temp_path(path)
  try:
    with open(tmp, "w", encoding="utf-8") as f:
      for chunk in chunks:
        f.write(chunk)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
