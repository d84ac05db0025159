"""Judge-human and human-human agreement on rated pairs, with bootstrap intervals.

Labels are about the two runs, not the slots a rater saw: `candidate` (it is better),
`baseline`, or `tie`. The judge's label of a pair is its verdict from both orders
(pinchjax.judge.protocol): the same winner in both games names that run; a tie in either
game, or a split (position bias), is a tie.

Conventions. The paper reports judge-human agreement (en 79.5% ... he 75%)
with the judge's both-orders verdict (inconsistent = tie) but states no rule for counting
ties, so MT-Bench's (Zheng et al. 2023) is used, its "with ties" setup as the headline:
  - `agreement` ("with ties"): the share of votes on which the two sides give the same of the
    three labels; a tie agrees only with a tie. A vote is one (judge, rater) label pair for
    judge-human; for human-human, one pair of raters who both labelled the item (all pairs of
    raters when more than two labelled it).
  - `agreement_without_ties` ("w/o tie"): the same over the votes where neither side says tie.
  - `kappa`: Cohen's kappa over the same votes as `agreement` (three labels); with more than
    two raters the human-human votes of every rater pair are pooled (Cohen's kappa for two).
Agreements are percentages. Intervals resample items (all of an item's votes together) within
a language, through pinchjax.judge.bootstrap.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Mapping, Sequence

import numpy as np

from pinchjax.judge import bootstrap

CANDIDATE, TIE, BASELINE = "candidate", "tie", "baseline"
LABELS = (CANDIDATE, TIE, BASELINE)
_CODE = {label: k for k, label in enumerate(LABELS)}


def judge_label(score: float) -> str:
  """A protocol item score (1 win, 0.5 tie, 0 loss of the candidate) as a label."""
  return {1.0: CANDIDATE, 0.5: TIE, 0.0: BASELINE}[score]


@dataclasses.dataclass(frozen=True)
class Rated:
  """One pair's labels: the judge's and each rater's who labelled it."""
  item: str
  lang: str
  judge: str
  humans: Mapping[str, str]  # rater -> label


def _votes(items: Sequence[Rated], kind: str) -> tuple[np.ndarray, np.ndarray]:
  """(owner item index, 3x3 confusion cell index) of every vote of `kind`."""
  owner, cell = [], []
  for n, item in enumerate(items):
    if kind == "judge_human":
      pairs = [(item.judge, h) for _, h in sorted(item.humans.items())]
    else:
      pairs = [(item.humans[r], item.humans[s])
               for r, s in itertools.combinations(sorted(item.humans), 2)]
    for x, y in pairs:
      owner.append(n)
      cell.append(3 * _CODE[x] + _CODE[y])
  return np.array(owner, dtype=np.int64), np.array(cell, dtype=np.int64)


def _stats(confusion: np.ndarray) -> dict[str, np.ndarray]:
  """Agreements and kappa of (..., 9) confusion counts (first side's label * 3 + second's);
  NaN where undefined (no votes, or kappa with one label on both sides)."""
  c = confusion.reshape(*confusion.shape[:-1], 3, 3).astype(np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    n = c.sum(axis=(-2, -1))
    observed = np.trace(c, axis1=-2, axis2=-1) / n
    expected = (c.sum(axis=-1) * c.sum(axis=-2)).sum(axis=-1) / n ** 2
    kappa = (observed - expected) / (1 - expected)
    kappa = np.where(np.isclose(expected, 1), np.nan, kappa)
    decisive = c[..., [0, 2], :][..., :, [0, 2]]
    without_ties = (np.trace(decisive, axis1=-2, axis2=-1)
                    / decisive.sum(axis=(-2, -1)))
  return {"agreement": 100 * observed, "agreement_without_ties": 100 * without_ties,
          "kappa": kappa}


def _finite(x: float) -> float | None:
  return None if np.isnan(x) else float(x)


def compare(items: Sequence[Rated], kind: str, lang: str, n_boot: int = 1000, seed: int = 0,
            level: float = 0.95) -> dict[str, Any] | None:
  """One language's `judge_human` or `human_human` numbers; None without a vote."""
  owner, cell = _votes(items, kind)
  if not len(owner):
    return None
  onehot = np.zeros((len(cell), 9))
  onehot[np.arange(len(cell)), cell] = 1
  point = _stats(onehot.sum(axis=0))
  # A replicate weighs each vote by how often its item was drawn.
  index = bootstrap.resample(len(items), lang, n_boot, seed)
  draws = np.stack([np.bincount(row, minlength=len(items)) for row in index])
  reps = _stats(draws[:, owner] @ onehot)
  out: dict[str, Any] = {"items": int(len(np.unique(owner))), "votes": int(len(owner)),
                         "votes_without_ties": int(onehot[:, [0, 2, 6, 8]].sum())}
  for name, value in point.items():
    finite = reps[name][~np.isnan(reps[name])]
    out[name] = _finite(value)
    # Replicates where the statistic is undefined are left out, and counted.
    out[f"{name}_ci"] = (list(bootstrap.percentile_interval(finite, level))
                         if len(finite) and out[name] is not None else None)
    out[f"{name}_undefined_replicates"] = int(n_boot - len(finite))
  return out


def summarize(items: Sequence[Rated], n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> dict[str, Any]:
  """Per language: label counts, judge-human and human-human agreement and kappa."""
  by_lang: dict[str, list[Rated]] = {}
  for item in sorted(items, key=lambda i: (i.lang, i.item)):
    by_lang.setdefault(item.lang, []).append(item)
  per_language = {}
  for lang, its in by_lang.items():
    rated = [i for i in its if i.humans]
    per_language[lang] = {
        "pairs": len(its), "rated_pairs": len(rated),
        "raters": sorted({r for i in its for r in i.humans}),
        "judge_labels": {l: sum(i.judge == l for i in rated) for l in LABELS},
        "human_labels": {l: sum(h == l for i in rated for h in i.humans.values())
                         for l in LABELS},
        "judge_human": compare(rated, "judge_human", lang, n_boot, seed, level),
        "human_human": compare(rated, "human_human", lang, n_boot, seed, level),
    }
  return {"ci_level": level, "n_boot": n_boot, "seed": seed, "labels": list(LABELS),
          "per_language": per_language}


def table_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
  """Header and one row per language of `summarize`'s dict (for the terminal and report)."""
  def est(d: Mapping[str, Any] | None, name: str, fmt: str = "{:.1f}") -> str:
    if d is None or d[name] is None:
      return "-"
    ci = d[f"{name}_ci"]
    return fmt.format(d[name]) + ("" if ci is None else
                                  " [" + ", ".join(fmt.format(x) for x in ci) + "]")

  rows = [("lang", "rated pairs", "raters", "judge-human %", "w/o ties %", "kappa",
           "human-human %", "kappa (humans)")]
  for lang, s in summary["per_language"].items():
    jh, hh = s["judge_human"], s["human_human"]
    rows.append((lang, str(s["rated_pairs"]), str(len(s["raters"])), est(jh, "agreement"),
                 est(jh, "agreement_without_ties"), est(jh, "kappa", "{:.2f}"),
                 est(hh, "agreement"), est(hh, "kappa", "{:.2f}")))
  return rows


def render(summary: Mapping[str, Any]) -> str:
  """A terminal table of `summarize`'s dict."""
  rows = table_rows(summary)
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = [f"judge-human agreement ({summary['ci_level']:.0%} bootstrap intervals; ties are a "
           "third label, MT-Bench 'with ties')"]
  lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  return "\n".join(lines)
