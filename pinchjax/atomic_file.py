"""Files that a reader, or a killed writer, never sees half-written."""
from __future__ import annotations

import os
from typing import Iterable


def write(path: str, chunks: Iterable[str]) -> None:
  """Writes `chunks` (as given, UTF-8) to a temporary file, syncs it, and renames it to `path`."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w", encoding="utf-8") as f:
      for chunk in chunks:
        f.write(chunk)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):  # e.g. `path` is a directory: leave no stray temporary file
      os.remove(tmp)
    raise
