"""Scores of one judging, and the paired difference of two candidates, with intervals.

    scores = score(verdicts)                 # one candidate vs one baseline
    items = item_scores(verdicts)            # {lang: {id: 0 | 0.5 | 1}}
    delta = compare(verdicts_x, verdicts_y)  # x minus y, both against the same baseline

Scores are percentages: win 100, tie 50, loss 0, averaged over a language's scored items;
the macro average weighs every language equally.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pinchjax.judge import bootstrap
from pinchjax.judge import fidelity
from pinchjax.judge import health
from pinchjax.judge import protocol


def _by_lang(items: Sequence[protocol.Item]) -> dict[str, list[protocol.Item]]:
  out: dict[str, list[protocol.Item]] = {}
  for item in sorted(items, key=lambda i: (i.lang, i.id)):
    out.setdefault(item.lang, []).append(item)
  return out


def _percent(interval: tuple[float, float] | None) -> list[float] | None:
  return None if interval is None else [100 * x for x in interval]


def item_scores(verdicts: Sequence[protocol.GameVerdict]) -> dict[str, dict[str, float]]:
  """{lang: {id: item score in [0, 1]}} of the scored items (for per-item aggregation, e.g.
  averaging seeds before bootstrapping)."""
  return {lang: {i.id: i.score for i in its if i.score is not None}
          for lang, its in _by_lang(protocol.items(verdicts)).items()}


def score(verdicts: Sequence[protocol.GameVerdict], *, n_boot: int = 1000, seed: int = 0,
          level: float = 0.95) -> dict[str, Any]:
  """Per-language and macro SxS scores with bootstrap intervals, diagnostics, the judge's
  health (pinchjax.judge.health: reliable or not, and why) and fidelity.

  Items with an unreadable or failed game are left out of the score and counted
  (`unscored`), never guessed.
  """
  if not verdicts:
    raise ValueError("no verdicts to score")
  items = protocol.items(verdicts)
  by_lang = _by_lang(items)
  values = {lang: np.array([i.score for i in its if i.score is not None])
            for lang, its in by_lang.items()}
  cis, macro_ci = bootstrap.intervals(values, n_boot, seed, level)
  per_language = {}
  for lang, its in by_lang.items():
    v = values[lang]
    per_language[lang] = {
        "score": 100 * float(v.mean()) if len(v) else None,
        "ci": _percent(cis.get(lang)),
        "n": len(its), "scored": len(v), "unscored": len(its) - len(v),
        "wins": int((v == 1).sum()), "ties": int((v == 0.5).sum()),
        "losses": int((v == 0).sum()),
    }
  scored = [100 * float(v.mean()) for v in values.values() if len(v)]
  first = [v for v in verdicts if v.candidate_slot == protocol.CANDIDATE_FIRST]
  head = verdicts[0]
  diagnostics = protocol.diagnostics(verdicts, items)
  return {
      "candidate_run": head.candidate_run, "baseline_run": head.baseline_run,
      "judge_id": head.judge_id, "prompt_id": head.prompt_id, "prompt_hash": head.prompt_hash,
      "ci_level": level, "n_boot": n_boot, "seed": seed,
      "per_language": per_language,
      "macro": {"score": float(np.mean(scored)) if scored else None,
                "ci": _percent(macro_ci), "languages": len(scored)},
      "diagnostics": diagnostics,
      "health": health.assess(diagnostics, head.candidate_run == head.baseline_run),
      "fidelity": {
          "candidate": fidelity.summarize(
              [v.lang for v in first],
              [fidelity.Fidelity(v.candidate_detected, v.candidate_in_language)
               for v in first]),
          "baseline": fidelity.summarize(
              [v.lang for v in first],
              [fidelity.Fidelity(v.baseline_detected, v.baseline_in_language)
               for v in first]),
      },
  }


def compare(verdicts_x: Sequence[protocol.GameVerdict],
            verdicts_y: Sequence[protocol.GameVerdict], *, n_boot: int = 1000,
            seed: int = 0, level: float = 0.95) -> dict[str, Any]:
  """Score of x minus score of y, both judged against the same baseline, with paired
  bootstrap intervals over the items both scored."""
  bases = {v.baseline_run for v in verdicts_x} | {v.baseline_run for v in verdicts_y}
  if len(bases) != 1:
    raise ValueError(f"a paired comparison needs one shared baseline, got {sorted(bases)}")
  x = {(i.lang, i.id): i.score for i in protocol.items(verdicts_x) if i.score is not None}
  y = {(i.lang, i.id): i.score for i in protocol.items(verdicts_y) if i.score is not None}
  diffs: dict[str, list[float]] = {}
  for key in sorted(x.keys() & y.keys()):
    diffs.setdefault(key[0], []).append(x[key] - y[key])
  values = {lang: np.array(d) for lang, d in diffs.items()}
  cis, macro_ci = bootstrap.intervals(values, n_boot, seed, level)
  per_language = {lang: {"difference": 100 * float(v.mean()),
                         "ci": _percent(cis[lang]), "n": len(v)}
                  for lang, v in values.items()}
  means = [100 * float(v.mean()) for v in values.values()]
  return {
      "x_run": verdicts_x[0].candidate_run, "y_run": verdicts_y[0].candidate_run,
      "baseline_run": bases.pop(), "ci_level": level, "n_boot": n_boot, "seed": seed,
      "per_language": per_language,
      "macro": {"difference": float(np.mean(means)) if means else None,
                "ci": _percent(macro_ci)},
      "unpaired_items": len(x.keys() ^ y.keys()),
  }
