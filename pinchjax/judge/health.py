"""Whether a judging can be trusted: its health numbers and a reliable yes/no with reasons.

A score is only as good as the judge behind it. A judge whose output cannot be read (or
whose calls fail) leaves items unscored, and a comparison whose responses are mostly
identical is settled by ties nobody asked for: either way `50.0 [50, 50]` can come out of no
judgement at all. Such a judging is unreliable, and the study report keeps it out of its
findings. The thresholds are gin bindings (`judge_health.max_error_rate = 0.1`), read when
the scores are computed, i.e. in the judge step's (or `pinchjax judge`'s) configuration.
"""
from __future__ import annotations

from typing import Any, Mapping

import gin

# The health numbers, from a judging's diagnostics (pinchjax.judge.protocol.diagnostics).
RATES = ("parse_error_rate", "failure_rate", "position_consistency", "first_slot_preference",
         "identical_share")


def _pct(x: float) -> str:
  return f"{100 * x:.1f}%"


@gin.configurable("judge_health")
def assess(diagnostics: Mapping[str, Any], self_comparison: bool, *,
           max_error_rate: float = 0.05, max_identical_share: float = 0.5) -> dict[str, Any]:
  """The health of one judging.

  Args:
    diagnostics: `scores["diagnostics"]` of pinchjax.judge.scoring.score.
    self_comparison: the candidate is its own baseline (the study's diagonal): every pair is
      identical and ties by construction, which is no fault of the judge.
    max_error_rate: unreliable when parse errors + failed calls exceed this share of the
      games sent to the judge.
    max_identical_share: unreliable when more than this share of the pairs tie as identical
      responses, without a judge call.

  Returns:
    {parse_error_rate, failure_rate, position_consistency, first_slot_preference,
     identical_share, error_rate, judge_games, games, reliable, reasons, max_error_rate,
     max_identical_share}; a rate is None when nothing was there to count.
  """
  d = diagnostics
  asked, games = d["judge_games"], d["games"]
  errors = d["parse_errors"] + d["failures"]
  # Both games of a pair are settled as identical or neither, so the share of games is the
  # share of pairs.
  out = {name: d.get(name) for name in RATES}
  out["identical_share"] = d["identical_games"] / games if games else None
  out["error_rate"] = errors / asked if asked else None
  reasons = []
  if out["error_rate"] is not None and out["error_rate"] > max_error_rate:
    reasons.append(f"unreadable or failed judge output in {_pct(out['error_rate'])} of "
                   f"{asked} judge calls ({d['parse_errors']} parse errors, {d['failures']} "
                   f"failed calls; limit {_pct(max_error_rate)})")
  if (not self_comparison and out["identical_share"] is not None
      and out["identical_share"] > max_identical_share):
    reasons.append(f"{_pct(out['identical_share'])} of pairs tied as identical responses "
                   f"without a judge call (limit {_pct(max_identical_share)})")
  out.update(judge_games=asked, games=games, reliable=not reasons, reasons=reasons,
             self_comparison=self_comparison, max_error_rate=max_error_rate,
             max_identical_share=max_identical_share)
  return out


def verdict(health: Mapping[str, Any]) -> str:
  """`yes`, or `no: reason; reason`."""
  if health["reliable"]:
    return "yes" + (" (judged against itself: ties by construction)"
                    if health["self_comparison"] else "")
  return "no: " + "; ".join(health["reasons"])
