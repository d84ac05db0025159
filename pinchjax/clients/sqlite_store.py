"""A SQLite file that keeps remote answers (judge verdicts, translations) as they arrive."""
from __future__ import annotations

import sqlite3


class SqliteStore:
  """Opens `path` with the subclass's SCHEMA; a context manager."""

  SCHEMA: str

  def __init__(self, path: str):
    self.path = path
    self._db = sqlite3.connect(path)
    # WAL + NORMAL: a committed answer survives a killed process without an fsync per row.
    self._db.execute("PRAGMA journal_mode=WAL")
    self._db.execute("PRAGMA synchronous=NORMAL")
    self._db.execute(self.SCHEMA)
    self._db.commit()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def close(self) -> None:
    self._db.close()
