"""Files that a reader, or a killed writer, never sees half-written.

The data goes to `.<name>.tmp-<host>-<pid>` next to `path` and is renamed over it. A failed
write (any exception, KeyboardInterrupt and SystemExit included) removes its temporary file;
one left by a process killed outright (SIGKILL, power loss) is removed by the next write of
the same `path` on the same host once that process is gone (a live writer's, or another
host's on a shared filesystem, is left alone).
"""
from __future__ import annotations

import glob
import json
import os
import socket
from typing import Any, Iterable, Mapping


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


def write(path: str, chunks: Iterable[str] | Iterable[bytes], binary: bool = False) -> None:
  """Writes `chunks` (as given: UTF-8 text, or bytes with `binary`) to a temporary file,
  syncs it, and renames it to `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  remove_stale_temps(path)
  tmp = temp_path(path)
  try:
    with (open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8")) as f:
      for chunk in chunks:
        f.write(chunk)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def json_line(row: Mapping[str, Any], sort_keys: bool = True) -> str:
  """One JSONL line: UTF-8 text (not ASCII-escaped), keys sorted unless told otherwise."""
  return json.dumps(row, ensure_ascii=False, sort_keys=sort_keys) + "\n"


def write_jsonl(path: str, rows: Iterable[Mapping[str, Any]], sort_keys: bool = True) -> int:
  """Writes one JSON object a line (see `json_line`) as `rows` yields them; returns the
  count. A row that fails (not JSON, or `rows` raising) leaves the old file and no temp."""
  count = 0

  def lines() -> Iterable[str]:
    nonlocal count
    for row in rows:
      yield json_line(row, sort_keys)
      count += 1

  write(path, lines())
  return count


def write_json(path: str, value: Any, indent: int | None = 1) -> None:
  """Writes one JSON value (a config, a summary)."""
  write(path, [json.dumps(value, indent=indent, ensure_ascii=False)])
