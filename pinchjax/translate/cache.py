"""Every translator answer, stored in SQLite the moment it arrives.

Keyed by (model, prompt version, source language, target language, source segment): the
prompt version names the template and the attempt ("translate-v1@ab12.../retry"), so the
one retry is cached too. A killed run, rerun, finds every answer here and asks only for the
rest. Failed requests (no answer) are never stored, so a rerun asks for them again; answers
that fail the checks are stored, since asking a deterministic translator again gives the
same text (the retry prompt differs, which is why it is its own key).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Iterable

from pinchjax.clients import sqlite_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  model TEXT NOT NULL,
  prompt TEXT NOT NULL,
  source_lang TEXT NOT NULL,
  target_lang TEXT NOT NULL,
  source TEXT NOT NULL,
  answer TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (model, prompt, source_lang, target_lang, source)
)"""


@dataclasses.dataclass(frozen=True)
class Key:
  model: str
  prompt: str
  source_lang: str
  target_lang: str
  source: str


class Cache(sqlite_store.SqliteStore):
  """SQLite store of answers; a context manager."""

  SCHEMA = _SCHEMA

  def get_many(self, keys: Iterable[Key]) -> dict[Key, str]:
    found = {}
    for key in keys:
      row = self._db.execute(
          "SELECT answer FROM answers WHERE model = ? AND prompt = ? AND source_lang = ? "
          "AND target_lang = ? AND source = ?", dataclasses.astuple(key)).fetchone()
      if row is not None:
        found[key] = row[0]
    return found

  def put(self, key: Key, answer: str) -> None:
    self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (*dataclasses.astuple(key), answer, time.time()))
    self._db.commit()

  def __len__(self) -> int:
    return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
