"""The paper's English training set: 1,000 LIMA + 3,640 OpenAssistant first-turn pairs.

Selection (deterministic, no randomness):
1. LIMA: the first `n_lima` rows of the LIMA train file in file order, first user/assistant
   pair of each (the released train.jsonl has 1,000 single-turn rows, then 30 multi-turn).
2. OpenAssistant: usable English root prompts with their best reviewed, best-ranked
   assistant reply (see pinchjax.data.oasst, whose OasstSelection gin bindings apply), in
   file order, skipping a prompt whose normalised text (case-folded, whitespace collapsed)
   repeats an earlier LIMA or OASST prompt; the first `n_oasst` are kept.
Fewer usable examples than asked is an error that gives the counts.
"""
from __future__ import annotations

from typing import Any

from pinchjax.data import formats
from pinchjax.data.canonical import OnError, Record


def _norm(text: str) -> str:
  return " ".join(text.casefold().split())


def build_paper_set(lima_path: str, oasst_path: str, n_lima: int = 1000, n_oasst: int = 3640,
                    on_error: OnError = "raise") -> tuple[list[Record], dict[str, Any]]:
  """(records, report): the English set and what was read, skipped and not selected."""
  lima = formats.read_lima(lima_path, "en", on_error)
  oasst = formats.read_oasst(oasst_path, "en", on_error)
  if len(lima.records) < n_lima:
    raise ValueError(f"{lima_path}: {len(lima.records)} usable LIMA rows, {n_lima} needed")
  chosen = lima.records[:n_lima]
  seen = {_norm(r.instruction) for r in chosen}
  duplicates = 0
  for r in oasst.records:
    if len(chosen) == n_lima + n_oasst:
      break
    key = _norm(r.instruction)
    if key in seen:
      duplicates += 1
      continue
    seen.add(key)
    chosen.append(r)
  if len(chosen) < n_lima + n_oasst:
    raise ValueError(f"{oasst_path}: {len(chosen) - n_lima} usable distinct English OASST "
                     f"prompts, {n_oasst} needed")
  report = {"lima": lima.to_json(), "oasst": oasst.to_json(),
            "oasst_duplicate_prompts_skipped": duplicates,
            "selected": {"lima": n_lima, "oasst": n_oasst, "total": len(chosen)}}
  return chosen, report
