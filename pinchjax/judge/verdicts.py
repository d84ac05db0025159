"""Reading a judge's verdict out of its free text.

A verdict is read, never guessed: text with no verdict tag, or with tags that disagree (a
judge that quotes the instructions back), is a parse error, counted by the scorer.
"""
from __future__ import annotations

import dataclasses
import re

# Slot verdicts: which slot won, "tie" for neither.
A, B, TIE = "A", "B", "tie"

_TAG_3 = re.compile(r"\[\[\s*([ABC])\s*\]\]", re.IGNORECASE)
_TAG_5 = re.compile(r"\[\[\s*(A\s*>>\s*B|A\s*>\s*B|A\s*=\s*B|B\s*>\s*A|B\s*>>\s*A)\s*\]\]",
                    re.IGNORECASE)
# tag -> (slot verdict, strength): strength 2 is a strong preference, 1 a slight or
# unqualified one, 0 a tie.
_MEANING = {
    "A": (A, 1), "B": (B, 1), "C": (TIE, 0),
    "A>>B": (A, 2), "A>B": (A, 1), "A=B": (TIE, 0), "B>A": (B, 1), "B>>A": (B, 2),
}


@dataclasses.dataclass(frozen=True)
class Parsed:
  verdict: str | None  # A, B, TIE, or None when unreadable
  strength: int = 0
  error: str | None = None


def parse(text: str, scale: int = 3) -> Parsed:
  """The verdict in `text` under a 3- or 5-level scale."""
  if scale not in (3, 5):
    raise ValueError(f"verdict scale must be 3 or 5, got {scale}")
  pattern = _TAG_3 if scale == 3 else _TAG_5
  tags = {re.sub(r"\s+", "", m.upper()) for m in pattern.findall(text)}
  if not tags:
    return Parsed(None, error="parse: no verdict tag")
  if len(tags) > 1:
    return Parsed(None, error=f"parse: conflicting verdict tags {sorted(tags)}")
  verdict, strength = _MEANING[tags.pop()]
  return Parsed(verdict, strength)
