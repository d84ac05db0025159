"""A finished (or partly finished) study's numbers, read back from its results directory.

The unit is a cell: one model's scores in one language, written by the study's judge step as
`cell.json` (`write_cell`):
  {"model", "lang", "baseline", "items": {id: item score in [0, 1]},
   "accuracy": share of checker-correct responses or null, "fidelity": share in the
   instruction's language or null, "judge": the judge's health (pinchjax.judge.health)}
A model is named `{config}_s{seed}`; a config's estimate in a language averages its seeds
item by item, and every interval is a bootstrap over items (stratified by language for
averages, paired for differences), through `pinchjax.judge.bootstrap`.

A cell whose judge is unreliable has no IF score here: `has`, `score` and `gain` treat its
(config, language) as unscored (any seed unreliable is enough) and note that it was asked
for (`unreliable_asked`), so a finding that needed it can say so. Accuracy and fidelity do
not come from the judge and stay readable (`metric`).
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Sequence

import numpy as np

from pinchjax.judge import bootstrap
from pinchjax.judge import health as health_lib
from pinchjax.judge import human_export
from pinchjax.judge import protocol
from pinchjax.judge import scoring
from pinchjax.study import runner

CELL = "cell.json"
_SEED = re.compile(r"_s\d+$")


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A score in percent with its 95% interval; `n` items behind it."""
  value: float
  lo: float
  hi: float
  n: int

  def __str__(self) -> str:
    return f"{self.value:.1f} [{self.lo:.1f}, {self.hi:.1f}]"


@dataclasses.dataclass(frozen=True)
class Judged:
  """One judge step's cell and the health of its judge."""
  step: str  # e.g. `judge/mono_fi_s0/en`
  model: str
  lang: str
  health: dict[str, Any]  # pinchjax.judge.health.assess's dict

  @property
  def reliable(self) -> bool:
    return self.health["reliable"]


def write_cell(out_dir: str, model: str, lang: str, baseline: str,
               verdicts: Sequence[protocol.GameVerdict], scores: dict[str, Any],
               accuracy: float | None) -> str:
  """Writes a judge step's cell.json from its verdicts and scores; returns its name."""
  cell = {"model": model, "lang": lang, "baseline": baseline,
          "items": scoring.item_scores(verdicts).get(lang, {}), "accuracy": accuracy,
          "fidelity": scores["fidelity"]["candidate"]["share"], "judge": scores["health"]}
  runner.write_json(os.path.join(out_dir, CELL), cell)
  return CELL


def _health(results_dir: str, step_id: str, entry: dict[str, Any], cell: dict[str, Any]
            ) -> dict[str, Any]:
  """The cell's judge health; for a cell written before cells carried it, assessed from the
  step's scores.json. A cell with neither is not trusted."""
  if "judge" in cell:
    return cell["judge"]
  scores = entry["outputs"].get("scores")
  if scores is not None:
    diagnostics = runner.read_json(os.path.join(results_dir, "steps", step_id, scores))
    return health_lib.assess(diagnostics["diagnostics"], cell["model"] == cell["baseline"])
  return {**{name: None for name in health_lib.RATES}, "judge_games": None, "games": None,
          "reliable": False, "self_comparison": cell["model"] == cell["baseline"],
          "reasons": [f"no judge diagnostics recorded ({step_id}: no 'judge' in {CELL}, no "
                      "scores.json)"]}


def config_of(model_id: str) -> str:
  """`pinch_p10_s0` -> `pinch_p10`: what a model is, whatever its seed."""
  return _SEED.sub("", model_id)


class Results:
  """Cells of one results directory, looked up by (config, language)."""

  def __init__(self, results_dir: str, n_boot: int = 1000, seed: int = 0):
    self.dir = results_dir
    self.study: dict[str, Any] = runner.read_json(os.path.join(results_dir, runner.STUDY))
    self.manifest: dict[str, Any] = runner.read_json(os.path.join(results_dir, runner.MANIFEST))
    self.n_boot, self.seed = n_boot, seed
    # (config, lang) -> cells of its seeds, and the judge steps behind them
    self.cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    self.judged: list[Judged] = []
    for step_id, entry in sorted(self.manifest["steps"].items()):
      if entry["kind"] != "judge" or entry["status"] != "done":
        continue
      cell = runner.read_json(os.path.join(results_dir, "steps", step_id, entry["outputs"]["cell"]))
      self.cells.setdefault((config_of(cell["model"]), cell["lang"]), []).append(cell)
      self.judged.append(Judged(step_id, cell["model"], cell["lang"],
                                _health(results_dir, step_id, entry, cell)))
    # (config, lang) -> its unreliable judge steps; and those asked for since last cleared
    self.unreliable: dict[tuple[str, str], list[Judged]] = {}
    for j in self.judged:
      if not j.reliable:
        self.unreliable.setdefault((config_of(j.model), j.lang), []).append(j)
    self.unreliable_asked: set[tuple[str, str]] = set()

  @property
  def languages(self) -> list[str]:
    return self.study["languages"]

  def configs(self, experiment: str) -> list[tuple[Any, str]]:
    """(coordinate, config) of the experiment's models, sorted by coordinate."""
    out = {}
    for model_id, model in self.study["models"].items():
      if experiment in model["tags"]:
        out[config_of(model_id)] = model["tags"][experiment]
    return sorted(((coord, cfg) for cfg, coord in out.items()), key=lambda t: (t[0], t[1]))

  def sweep(self, experiment: str) -> list[tuple[Any, str]]:
    """(P, config) along a pinch sweep. Without a P=0 model the English monolingual model
    stands at P=0: tuned on the whole set in English, it is the paper's P=0 whenever the
    budget is the whole set."""
    points = self.configs(experiment)
    if points and all(p != 0 for p, _ in points) and self.has("mono_en", "en"):
      points = [(0, "mono_en"), *points]
    return points

  def has(self, config: str, lang: str) -> bool:
    """Whether the config has a trusted IF score in the language."""
    if (config, lang) in self.unreliable:
      self.unreliable_asked.add((config, lang))
      return False
    return (config, lang) in self.cells

  def _any_unreliable(self, configs: Sequence[str], langs: Sequence[str]) -> bool:
    """Notes every unreliable (config, lang) among these; True if there is one."""
    bad = {(c, l) for c in configs for l in langs if (c, l) in self.unreliable}
    self.unreliable_asked |= bad
    return bool(bad)

  def _items(self, config: str, lang: str) -> dict[str, float]:
    """Per-item scores (0..1) averaged over the config's seeds."""
    sums: dict[str, list[float]] = {}
    for cell in self.cells[(config, lang)]:
      for item_id, score in cell["items"].items():
        sums.setdefault(item_id, []).append(score)
    return {i: float(np.mean(s)) for i, s in sorted(sums.items())}

  def _estimate(self, values_by_lang: dict[str, np.ndarray]) -> Estimate | None:
    values_by_lang = {l: v for l, v in values_by_lang.items() if len(v)}
    if not values_by_lang:
      return None
    per_lang, macro = bootstrap.intervals(values_by_lang, self.n_boot, self.seed)
    value = float(np.mean([np.mean(v) for v in values_by_lang.values()]))
    lo, hi = macro if len(values_by_lang) > 1 else next(iter(per_lang.values()))
    n = sum(len(v) for v in values_by_lang.values())
    return Estimate(100 * value, 100 * lo, 100 * hi, n)

  def score(self, config: str, langs: str | Sequence[str]) -> Estimate | None:
    """IF of a config in one language, or the macro average over several (None if unscored,
    or if the judge is unreliable in any of them: an average never hides a language)."""
    langs = [langs] if isinstance(langs, str) else list(langs)
    if self._any_unreliable([config], langs):
      return None
    return self._estimate({l: np.array(list(self._items(config, l).values()))
                           for l in langs if self.has(config, l)})

  def gain(self, configs: str | Sequence[str], reference: str, langs: Sequence[str]
           ) -> Estimate | None:
    """Paired gain over `reference` of one config, or of several configs' mean, averaged
    over `langs`: per item, mean over configs of (config - reference), on items all scored.
    None if the judge is unreliable for any of them in any of the languages."""
    configs = [configs] if isinstance(configs, str) else list(configs)
    if self._any_unreliable([*configs, reference], langs):
      return None
    diffs = {}
    for l in langs:
      scored = [self._items(c, l) for c in configs if self.has(c, l)]
      if not scored or not self.has(reference, l):
        continue
      ref = self._items(reference, l)
      common = [i for i in ref if all(i in items for items in scored)]
      diffs[l] = np.array([np.mean([items[i] for items in scored]) - ref[i] for i in common])
    return self._estimate(diffs)

  def metric(self, config: str, lang: str, name: str) -> float | None:
    """`accuracy` or `fidelity` of a config in a language, averaged over seeds (0..1)."""
    values = [c[name] for c in self.cells.get((config, lang), []) if c.get(name) is not None]
    return float(np.mean(values)) if values else None


def judged_steps(results_dir: str) -> list[human_export.Source]:
  """Every finished judge step of a study's results directory, as a source of pairs for
  human raters (pinchjax.judge.human_export)."""
  manifest = runner.read_json(os.path.join(results_dir, runner.MANIFEST))
  steps = manifest["steps"]

  def output(step_id: str, name: str) -> str:
    entry = steps.get(step_id)
    if entry is None or entry["status"] != "done" or name not in entry["outputs"]:
      raise ValueError(f"{results_dir}: step {step_id} has no finished {name!r} output")
    return os.path.join(results_dir, "steps", *step_id.split("/"), entry["outputs"][name])

  out = []
  for step_id, entry in sorted(steps.items()):
    if entry["kind"] != "judge" or entry["status"] != "done":
      continue
    cell = runner.read_json(output(step_id, "cell"))
    out.append(human_export.Source(
        step_id, output(step_id, "verdicts"),
        output(f"infer/{cell['model']}/{cell['lang']}", "generations"),
        output(f"infer/{cell['baseline']}/{cell['lang']}", "generations")))
  if not out:
    raise ValueError(f"{results_dir}: no finished judge steps in {runner.MANIFEST}")
  return out
