"""The paper's headline findings, each checked against a study's results with its numbers.

A verdict is `holds`, `partly`, `does not hold` or `not measured` (the study lacks the runs).
The thresholds that turn the paper's words into numbers are stated in each `rule`. A finding
that needs a score from a cell whose judge is unreliable gets no verdict at all: it is `not
measured: judge unreliable in N cells`, since its rule speaks of languages it cannot see.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from pinchjax.study.results import Results

HOLDS, PARTLY, NO, UNMEASURED = "holds", "partly", "does not hold", "not measured"


@dataclasses.dataclass(frozen=True)
class Finding:
  claim: str  # the paper's words
  rule: str  # how this report decides
  here: str  # the numbers in these results
  verdict: str


def _verdict(all_ok: bool, some_ok: bool) -> str:
  return HOLDS if all_ok else PARTLY if some_ok else NO


def _fmt(x: float) -> str:
  return f"{x:.1f}"


def mono_matrix(r: Results, metric: str = "if") -> dict[str, dict[str, float]]:
  """tuned language -> eval language -> IF (or `accuracy` / `fidelity`, 0..1) of the
  monolingual models (point estimates)."""
  out: dict[str, dict[str, float]] = {}
  for tuned, cfg in r.configs("mono"):
    row = {l: r.score(cfg, l).value if metric == "if" else r.metric(cfg, l, metric)
           for l in r.languages if r.has(cfg, l)}
    row = {l: v for l, v in row.items() if v is not None}
    if row:
      out[tuned] = row
  return out


def cross_lingual(r: Results, metric: str = "if") -> dict[str, float]:
  """Per eval language: mean IF (or another metric) of the models tuned on the others."""
  m = mono_matrix(r, metric)
  out = {}
  for lang in r.languages:
    others = [row[lang] for tuned, row in m.items() if tuned != lang and lang in row]
    if others:
      out[lang] = float(np.mean(others))
  return out


def transfer(r: Results) -> Finding:
  claim = "Monolingual tuning transfers some instruction following to all other languages."
  rule = ("in every language, the models tuned on other languages beat the untuned base: "
          "the paired gain of their mean IF over the base's has a 95% interval above 0 "
          "(without a scored base: each of their IFs has an interval above 0)")
  cross = cross_lingual(r)
  if not cross:
    return Finding(claim, rule, "no monolingual matrix in this study", UNMEASURED)
  others = {l: [cfg for tuned, cfg in r.configs("mono") if tuned != l and r.has(cfg, l)]
            for l in cross}
  if all(r.has("base", l) for l in cross):
    gains = {l: r.gain(others[l], "base", [l]) for l in cross}
    ok = [l for l, g in gains.items() if g.lo > 0]
    here = (f"significant gain over the base in {len(ok)}/{len(cross)} languages; paired "
            "gain of the cross-lingual IF: "
            + ", ".join(f"{l} {g}" for l, g in gains.items()))
  else:
    ok = [l for l in cross if all(r.score(cfg, l).lo > 0 for cfg in others[l])]
    low = min(cross, key=cross.get)
    here = (f"every cross-lingual IF above 0 in {len(ok)}/{len(cross)} languages; mean "
            f"cross-lingual IF from {_fmt(cross[low])} ({low}) to {_fmt(max(cross.values()))}")
  acc = cross_lingual(r, "accuracy")
  base_acc = [v for l in acc if (v := r.metric("base", l, "accuracy")) is not None]
  if acc:
    here += (f"; checker accuracy off the diagonal {_fmt(100 * np.mean(list(acc.values())))}%"
             + (f" vs {_fmt(100 * np.mean(base_acc))}% for the base" if base_acc else ""))
  return Finding(claim, rule, here, _verdict(len(ok) == len(cross), 2 * len(ok) > len(cross)))


def _pinch(r: Results) -> dict[int, str]:
  return dict(r.sweep("pinch"))


def pinch_one(r: Results) -> Finding:
  claim = "P=1 (about 40 multilingual examples) substantially improves all languages."
  rule = ("the paired gain over P=0 (English only) of the non-English average is at least 5 "
          "points with a 95% interval above 0, and every non-English language gains (partly: "
          "a gain with an interval above 0, or most languages gain); the smallest P>0 in the "
          "study stands in for P=1")
  pinch = _pinch(r)
  reference = pinch.get(0)
  small = min((p for p in pinch if p > 0), default=None)
  others = [l for l in r.languages if l != "en"]
  total = (r.gain(pinch[small], reference, others)
           if small is not None and reference is not None else None)
  if total is None:
    return Finding(claim, rule, "needs P=0 (or mono_en) and a P>0 pinch model", UNMEASURED)
  gains = {l: r.gain(pinch[small], reference, [l]) for l in others}
  gains = {l: g.value for l, g in gains.items() if g is not None}
  up = [l for l, g in gains.items() if g > 0]
  here = (f"P={small} vs {reference}: non-English average gain {total}; "
          f"{len(up)}/{len(gains)} languages gain")
  return Finding(claim, rule, here, _verdict(
      total.value >= 5 and total.lo > 0 and len(up) == len(gains),
      total.lo > 0 or 2 * len(up) > len(gains)))


def uniform_vs_mono(r: Results) -> Finding:
  claim = ("At P=100 the uniform mixture matches or beats the monolingual models in 8 of 12 "
           "languages.")
  rule = ("a language is matched when IF_L(P=100)'s 95% interval reaches 50 (not "
          "significantly worse than M_L); holds for at least 8/12 of the languages (partly: "
          "for some)")
  cfg = _pinch(r).get(100)
  scores = {l: r.score(cfg, l) for l in r.languages if cfg and r.has(cfg, l)}
  if not scores:
    return Finding(claim, rule, "no P=100 model in this study", UNMEASURED)
  matched = [l for l, e in scores.items() if e.hi >= 50]
  here = (f"matched or beaten in {len(matched)}/{len(scores)} languages "
          f"({', '.join(matched) or 'none'}); mean IF {_fmt(np.mean([e.value for e in scores.values()]))}")
  return Finding(claim, rule, here, _verdict(3 * len(matched) >= 2 * len(scores), bool(matched)))


def num_languages(r: Results) -> Finding:
  claim = ("2-4 tuning languages raise the unseen-language average to almost 50; then it "
           "saturates.")
  rule = ("the unseen average (mean over orderings) reaches 45 at some K in 2..4, and no "
          "larger K adds more than 5 points to the best of K=2..4")
  curve = unseen_by_k(r)
  early = [curve[k] for k in (2, 3, 4) if k in curve]
  if not early:
    return Finding(claim, rule, "needs models with K in 2..4 seen languages", UNMEASURED)
  best = max(early)
  later = [curve[k] for k in curve if k > 4]
  saturates = all(v - best <= 5 for v in later)
  here = "unseen average by K: " + ", ".join(f"K={k}: {_fmt(v)}" for k, v in sorted(curve.items()))
  return Finding(claim, rule, here, _verdict(best >= 45 and saturates, best >= 45 or saturates))


def unseen_points(r: Results) -> dict[int, list[float]]:
  """K -> the unseen average IF of each ordering scored."""
  by_k: dict[int, list[float]] = {}
  for (k, _), cfg in r.configs("num_langs"):
    e = r.score(cfg, r.study["unseen"])
    if e is not None:
      by_k.setdefault(k, []).append(e.value)
  return dict(sorted(by_k.items()))


def unseen_by_k(r: Results) -> dict[int, float]:
  """K -> unseen average IF, mean over the orderings scored."""
  return {k: float(np.mean(v)) for k, v in unseen_points(r).items()}


def pretraining_share(r: Results) -> Finding:
  claim = ("Weak correlation (Pearson r = 0.22) between a language's average cross-lingual "
           "score and its share of pre-training data.")
  rule = "|r| < 0.3 over the languages with a cross-lingual score and a known share"
  shares = r.study.get("pretraining_share") or {}
  needs = Finding(claim, rule, "needs Study.pretraining_share that differs between at least "
                  "3 languages of the monolingual matrix", UNMEASURED)
  if not shares:  # before reading any score: the judge is not what is missing
    return needs
  cross = cross_lingual(r)
  langs = [l for l in cross if l in shares]
  x, y = np.array([shares[l] for l in langs]), np.array([cross[l] for l in langs])
  if len(langs) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return needs
  rho = float(np.corrcoef(x, y)[0, 1])
  here = f"r = {rho:.2f} over {len(langs)} languages"
  return Finding(claim, rule, here, HOLDS if abs(rho) < 0.3 else NO)


def fidelity(r: Results) -> Finding:
  claim = "Models answer in the instruction's language whatever they were tuned on."
  rule = ("at least 90% of all scored responses are in the instruction's language (partly: "
          "at least 50%)")
  values = [r.metric(cfg, lang, "fidelity") for cfg, lang in r.cells]
  values = [v for v in values if v is not None]
  if not values:
    return Finding(claim, rule, "no language fidelity measured", UNMEASURED)
  mean = float(np.mean(values))
  here = f"{100 * mean:.1f}% on average over {len(values)} cells (lowest {100 * min(values):.1f}%)"
  return Finding(claim, rule, here, _verdict(mean >= 0.9, mean >= 0.5))


ALL: tuple[Callable[[Results], Finding], ...] = (
    transfer, pinch_one, uniform_vs_mono, num_languages, pretraining_share, fidelity)


def _unreliable(r: Results, f: Finding) -> Finding:
  """`f` without its verdict, naming the unreliable judge steps it asked for."""
  steps = sorted(j.step for key in r.unreliable_asked for j in r.unreliable[key])
  return Finding(f.claim, f.rule, "needs cells whose judge is unreliable (see Judge health): "
                 + ", ".join(f"`{s}`" for s in steps),
                 f"{UNMEASURED}: judge unreliable in {len(steps)} cell"
                 + ("s" if len(steps) > 1 else ""))


def check_all(r: Results) -> list[Finding]:
  out = []
  for check in ALL:
    r.unreliable_asked.clear()
    f = check(r)
    out.append(_unreliable(r, f) if r.unreliable_asked else f)
  return out
