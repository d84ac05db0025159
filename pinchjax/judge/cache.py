"""Every judge answer, stored in SQLite the moment it arrives.

A game's key hashes everything that determines the judge's answer: the judge's identity and
decoding parameters, the prompt id and hash, the language, the instruction and the two
responses in their slots. A killed run, rerun, finds every answered game here and asks only
the rest. Failed calls (no answer) are not stored, so a rerun retries them; unreadable
answers are stored, since asking a deterministic judge again gives the same text.
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping

from pinchjax.clients import sqlite_store
from pinchjax.judge.backends.base import Answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS games (
  key TEXT PRIMARY KEY,
  judge_id TEXT NOT NULL,
  prompt_id TEXT NOT NULL,
  raw TEXT NOT NULL,
  verdict TEXT,
  strength INTEGER NOT NULL,
  error TEXT,
  probs TEXT,
  created REAL NOT NULL
)"""


def game_key(judge_id: str, params: Mapping[str, Any], prompt_id: str, prompt_hash: str,
             lang: str, instruction: str, response_a: str, response_b: str) -> str:
  blob = json.dumps([judge_id, dict(params), prompt_id, prompt_hash, lang, instruction,
                     response_a, response_b], sort_keys=True, ensure_ascii=False)
  return hashlib.sha256(blob.encode()).hexdigest()


class Cache(sqlite_store.SqliteStore):
  """SQLite store of answers by game key; use as a context manager or call close()."""

  SCHEMA = _SCHEMA

  def get(self, key: str) -> Answer | None:
    row = self._db.execute(
        "SELECT raw, verdict, strength, error, probs FROM games WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
      return None
    raw, verdict, strength, error, probs = row
    return Answer(raw, verdict, strength, error, json.loads(probs) if probs else None)

  def put(self, key: str, judge_id: str, prompt_id: str, answer: Answer) -> None:
    if answer.raw is None:
      raise ValueError("failed calls are not cached (a rerun must retry them)")
    self._db.execute(
        "INSERT OR REPLACE INTO games VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (key, judge_id, prompt_id, answer.raw, answer.verdict, answer.strength, answer.error,
         json.dumps(answer.probs) if answer.probs is not None else None, time.time()))
    self._db.commit()

  def __len__(self) -> int:
    return self._db.execute("SELECT COUNT(*) FROM games").fetchone()[0]
