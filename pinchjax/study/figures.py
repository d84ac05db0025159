"""The report's figures as PNG files (matplotlib, Agg: no display needed).

Each function draws one figure from a study's results and returns False, writing nothing,
when the study has none of the runs it needs.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from pinchjax.study import findings  # noqa: E402
from pinchjax.study.results import Estimate, Results  # noqa: E402


def _heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str,
             xlabel: str, ylabel: str, vmax: float, fmt: str, path: str) -> None:
  fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.55 * len(cols)),
                                  max(3.0, 1.0 + 0.45 * len(rows))))
  im = ax.imshow(np.ma.masked_invalid(matrix), cmap="viridis", vmin=0, vmax=vmax)
  ax.set_xticks(range(len(cols)), cols)
  ax.set_yticks(range(len(rows)), rows)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  for (i, j), v in np.ndenumerate(matrix):
    if not np.isnan(v):
      ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
              color="white" if v < 0.6 * vmax else "black")
  fig.colorbar(im, ax=ax, shrink=0.8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def transfer_heatmap(r: Results, path: str) -> bool:
  """IF of each monolingual model (rows: tuning language) in each language (columns)."""
  m = findings.mono_matrix(r)
  if not m:
    return False
  rows = [l for l in r.languages if l in m]
  matrix = np.array([[m[t].get(l, np.nan) for l in r.languages] for t in rows])
  _heatmap(matrix, rows, r.languages, "Transfer: IF_L(M) = SxS(M, M_L), %",
           "evaluated in", "tuned on", 100, "{:.0f}", path)
  return True


def _curves(series: dict[str, list[tuple[float, Estimate]]], title: str, xlabel: str,
            path: str) -> bool:
  series = {k: v for k, v in series.items() if v}
  if not series:
    return False
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, points in series.items():
    x = [p for p, _ in points]
    ax.plot(x, [e.value for _, e in points], marker="o", label=label)
    ax.fill_between(x, [e.lo for _, e in points], [e.hi for _, e in points], alpha=0.2)
  ax.axhline(50, color="grey", lw=0.8, ls="--")
  ax.set_xlabel(xlabel)
  ax.set_ylabel("IF score (SxS vs M_L, %), 95% CI")
  ax.set_ylim(0, 100)
  ax.set_title(title)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def sweep(r: Results, experiment: str, groups: dict[str, Sequence[str]]
          ) -> dict[str, list[tuple[float, Estimate]]]:
  """group label -> [(P, average IF over the group's languages)] along a pinch sweep."""
  out: dict[str, list[tuple[float, Estimate]]] = {label: [] for label in groups}
  for p, cfg in r.sweep(experiment):
    for label, langs in groups.items():
      e = r.score(cfg, langs) if langs else None
      if e is not None:
        out[label].append((p, e))
  return out


def pinch_groups(r: Results) -> dict[str, list[str]]:
  return {"English": ["en"], "non-English average": [l for l in r.languages if l != "en"]}


def seen_groups(r: Results) -> dict[str, list[str]]:
  return {"English": ["en"],
          "seen non-English": [l for l in r.study["seen"] if l != "en"],
          "unseen": list(r.study["unseen"])}


def pinch_curve(r: Results, path: str) -> bool:
  return _curves(sweep(r, "pinch", pinch_groups(r)), "Pinch sweep (all languages)",
                 "P: % of the budget spread over the other languages", path)


def seen_curve(r: Results, path: str) -> bool:
  return _curves(sweep(r, "seen", seen_groups(r)), "Pinch over the seen languages only",
                 "P: % of the budget spread over the seen languages", path)


def num_languages_curve(r: Results, path: str) -> bool:
  points = findings.unseen_points(r)
  if not points:
    return False
  fig, ax = plt.subplots(figsize=(6, 4))
  for k, values in points.items():
    ax.scatter([k] * len(values), values, color="grey", s=12)
  mean = findings.unseen_by_k(r)
  ax.plot(list(mean), list(mean.values()), marker="o", label="mean over orderings")
  ax.axhline(50, color="grey", lw=0.8, ls="--")
  ax.set_xlabel("K: number of seen tuning languages (budget split evenly)")
  ax.set_ylabel("unseen-language average IF (%)")
  ax.set_ylim(0, 100)
  ax.set_title("Number of tuning languages")
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def fidelity_heatmap(r: Results, configs: Sequence[str], path: str) -> bool:
  """Share of responses in the instruction's language, per model and language."""
  matrix = np.array([[np.nan if (v := r.metric(c, l, "fidelity")) is None else 100 * v
                      for l in r.languages] for c in configs], dtype=float)
  if not configs or np.isnan(matrix).all():
    return False
  _heatmap(matrix, configs, r.languages, "Response-language fidelity (%)", "instruction language",
           "model", 100, "{:.0f}", path)
  return True
