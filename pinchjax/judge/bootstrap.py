"""Percentile bootstrap intervals for SxS scores.

Items are resampled within each language (a language's interval), stratified by language
(the macro average: every replicate keeps each language's item count), and paired (the
difference of two candidates judged against the same baseline: one resample of item indices
serves both, so item difficulty cancels). Each language draws from its own stream, seeded by
(seed, language), so its replicates do not depend on which other languages are present and
the macro interval is built from exactly the replicates behind the per-language intervals.
"""
from __future__ import annotations

import zlib
from typing import Mapping

import numpy as np

Interval = tuple[float, float]


def resample(n: int, lang: str, n_boot: int, seed: int) -> np.ndarray:
  """(n_boot, n) item indices drawn with replacement from the language's own stream (for
  statistics that are not a mean of per-item values, e.g. kappa)."""
  rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
  return rng.integers(0, n, size=(n_boot, n))


def _replicates(values: np.ndarray, lang: str, n_boot: int, seed: int) -> np.ndarray:
  """(n_boot,) means of resamples of `values` (with replacement, same size)."""
  return values[resample(len(values), lang, n_boot, seed)].mean(axis=1)


def percentile_interval(replicates: np.ndarray, level: float) -> Interval:
  tail = (1 - level) / 2 * 100
  lo, hi = np.percentile(replicates, [tail, 100 - tail])
  return float(lo), float(hi)


def intervals(values_by_lang: Mapping[str, np.ndarray], n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> tuple[dict[str, Interval], Interval | None]:
  """Per-language intervals of the mean and the stratified interval of the macro average.

  `values_by_lang` maps a language to its per-item values (item scores, or paired
  differences of item scores). Languages with no items are left out.
  """
  if n_boot < 1:
    raise ValueError(f"n_boot must be >= 1, got {n_boot}")
  reps = {lang: _replicates(np.asarray(v, dtype=np.float64), lang, n_boot, seed)
          for lang, v in values_by_lang.items() if len(v)}
  per_lang = {lang: percentile_interval(r, level) for lang, r in reps.items()}
  macro = percentile_interval(np.mean(list(reps.values()), axis=0), level) if reps else None
  return per_lang, macro
