"""A study (the paper's experiments over one dataset) expanded into a DAG of steps.

Each tuned model is one `train` step on a named mixture of the data layer
(`{dataset}_mono_{lang}`, `{dataset}_pinch_p{P}`, `{dataset}_pinch_seen_p{P}`,
`{dataset}_k{K}_o{ORDER}`, `{dataset}_pair_{l1}_{l2}`). Each (model, language) it is scored in
is an `infer` step on the eval task `{evalset}_{lang}` and a `judge` step against the
baseline M_L, the model tuned on the full set in L: IF_L(M) = SxS(M, M_L). Models shared by
experiments (the monolingual baselines above all) are one step, however many use them.

Every step is configured from three layers, later ones winning (see step_gin.configure):
its kind's gin files (`Study.train['gin_files']`, ...); the study-level configuration, i.e.
every binding of the study file outside `Study` (macros such as DATA_DIR, MODEL_DIR_HF,
TOKENIZER, TEMPLATE) with the command line's `--gin_file` / `--gin.X=Y` applied, followed by
the data layer's registration as the Study sets it (`registration_bindings`); then its kind's
own `bindings`.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

import gin

from pinchjax import languages as langreg
from pinchjax.data import mixtures

EXPERIMENTS = ("mono", "pinch", "seen", "num_langs", "pairs")
BASE = "base"  # the untuned starting checkpoint, scored like any model
DATA = "data"  # the id of the step that writes the study's data
DIAGNOSE = "diagnose/base"  # the id of the step that measures the base model
PRETRAIN = "pretrain/base"  # the id of the step that pretrains the base model


def _spec(value: str | Sequence[str]) -> str | list[str]:
  """A set name or comma list stays a string for `resolve`; gin lists become lists."""
  return value if isinstance(value, str) else list(value)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Study:
  """What to run; every field is a gin binding (`Study.seeds = [0, 1]`).

  The mixtures are the data layer's; the study names the ones it needs and sets how every
  step registers them (`registration_bindings`: languages, seen set, budget, seed, the P
  values and orderings), so a step's mixture is the one the study means.
  """
  name: str = gin.REQUIRED
  dataset: str = gin.REQUIRED  # mixtures are named `{dataset}_...`
  evalset: str = gin.REQUIRED  # eval tasks are named `{evalset}_{lang}`
  experiments: Sequence[str] = EXPERIMENTS
  languages: Sequence[str] = langreg.PAPER_LANGUAGES  # evaluated languages
  seen: Sequence[str] | None = None  # None: the paper's seen set among `languages`
  # What the data layer's mixtures spread over (register_dataset.languages and .seen), when
  # more than the evaluated languages (the toy demo scores 3 languages of 12-language
  # mixtures); None: `languages` and `seen`. They must agree on the evaluated languages.
  data_languages: Sequence[str] | None = None
  data_seen: Sequence[str] | None = None
  budget: int | None = None  # examples per mixture (register_dataset.budget); None: all ids
  pinch_values: Sequence[int] = (0, 1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
  seen_pinch_values: Sequence[int] = (0, 1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
  k_values: Sequence[int] = (1, 2, 3, 4, 5, 6)
  orderings: Sequence[int] = (0, 1, 2)
  # None: the data layer's random pairing of `languages` with `pairs_seed`. Pairs are named
  # in order, and the data layer registers only its own pairing.
  pairs: Sequence[Sequence[str]] | None = None
  # The data layer's seed (register_dataset.seed): its pairs, orderings and id selection.
  pairs_seed: int = 0
  seeds: Sequence[int] = (0,)
  base_checkpoint: str | None = None  # scored as the model `base` when set
  # Each language's share of the base model's pretraining data, when known (a finding).
  pretraining_share: dict[str, float] | None = None
  # How each kind of step is run; passed to the executors and part of every config hash.
  # `data`, when set, is one step that writes the study's data (e.g. builds the toy world);
  # every train and infer step then depends on it and sees its directory as DATA_DIR.
  data: dict[str, Any] | None = None
  # `pretrain`, when set (with `data`), is one step that pretrains the base on the study's
  # data (pinchjax.study.toy_base.execute: its `gin_files` and `bindings`); it replaces
  # base_checkpoint, and every step sees its files as BASE_CHECKPOINT and BASE_VOCABULARY.
  pretrain: dict[str, Any] | None = None
  # `diagnose`, when set with a base (base_checkpoint or pretrain), is one step that measures
  # the base before tuning (pinchjax.study.diagnostics.execute: `fn`, `vocabulary`, `kwargs`).
  diagnose: dict[str, Any] | None = None
  train: dict[str, Any] = dataclasses.field(default_factory=dict)
  infer: dict[str, Any] = dataclasses.field(default_factory=dict)
  judge: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.pretrain is not None and (self.data is None or self.base_checkpoint):
      raise ValueError("Study.pretrain needs Study.data (the corpus) and no "
                       "Study.base_checkpoint (the pretrained base replaces it)")
    for exp in self.experiments:
      if exp not in EXPERIMENTS:
        raise ValueError(f"Study.experiments: unknown experiment {exp!r}; "
                         f"known: {', '.join(EXPERIMENTS)}")
    langs = langreg.resolve(_spec(self.languages))
    # The paper's seen set in its own order: the order the data layer draws orderings from.
    seen = langreg.resolve(_spec(self.seen)) if self.seen is not None else tuple(
        l for l in langreg.SEEN if l in langs)
    object.__setattr__(self, "languages", langs)
    object.__setattr__(self, "seen", seen)
    object.__setattr__(self, "data_languages", langs if self.data_languages is None
                       else langreg.resolve(_spec(self.data_languages)))
    object.__setattr__(self, "data_seen", seen if self.data_seen is None
                       else langreg.resolve(_spec(self.data_seen)))
    if "en" not in self.languages:
      raise ValueError("Study.languages must include 'en': the pinch sweeps start from it")
    missing = set(self.seen) - set(self.languages)
    if missing:
      raise ValueError(f"Study.seen has languages not in Study.languages: {sorted(missing)}")
    missing = set(self.languages) - set(self.data_languages)
    if missing:
      raise ValueError(f"Study.data_languages lacks evaluated languages: {sorted(missing)}")
    if set(self.data_seen) & set(self.languages) != set(self.seen):
      raise ValueError(f"Study.data_seen {list(self.data_seen)} and Study.seen "
                       f"{list(self.seen)} disagree on the evaluated languages")

  @property
  def unseen(self) -> tuple[str, ...]:
    return tuple(l for l in self.languages if l not in self.seen)


@dataclasses.dataclass(frozen=True)
class Model:
  """A model of the study: the mixture it is tuned on (None: the base) and what it stands for."""
  id: str  # e.g. `pinch_p10_s0`
  mixture: str | None
  seed: int
  tags: dict[str, Any]  # experiment -> its coordinate (P, K/order, pair, tuning language)


@dataclasses.dataclass(frozen=True)
class Step:
  id: str  # `train/M`, `infer/M/L`, `judge/M/L`: also its path under the results directory
  kind: str  # data | train | infer | judge
  params: dict[str, Any]
  deps: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Grid:
  study: Study
  models: dict[str, Model]
  cells: tuple[tuple[str, str], ...]  # (model id, language) pairs that are scored
  steps: tuple[Step, ...]  # in an order where every step follows its dependencies


class _Builder:
  """Collects models and scored cells; a model or cell added twice is kept once."""

  def __init__(self, study: Study):
    self.study = study
    self.models: dict[str, Model] = {}
    self.cells: dict[tuple[str, str], None] = {}

  def model(self, name: str, seed: int, exp: str, coord: Any, mixture: str | None) -> str:
    mid = name if mixture is None else f"{name}_s{seed}"
    old = self.models.get(mid)
    tags = dict(old.tags) if old else {}
    tags[exp] = coord
    self.models[mid] = Model(mid, mixture, seed, tags)
    return mid

  def tuned(self, suffix: str, seed: int, exp: str, coord: Any) -> str:
    return self.model(suffix, seed, exp, coord, f"{self.study.dataset}_{suffix}")

  def score(self, mid: str, langs: Sequence[str]) -> None:
    for lang in langs:
      self.cells[(mid, lang)] = None

  def score_all(self, cells: Sequence[tuple[str, str]]) -> None:
    for mid, lang in cells:
      self.score(mid, [lang])


def _add_experiments(b: _Builder, seed: int) -> None:
  s = b.study
  langs = s.languages
  if "mono" in s.experiments:
    for lang in langs:
      b.score(b.tuned(f"mono_{lang}", seed, "mono", lang), langs)
  if "pinch" in s.experiments:
    for p in s.pinch_values:
      b.score(b.tuned(f"pinch_p{p}", seed, "pinch", p), langs)
  if "seen" in s.experiments:
    for p in s.seen_pinch_values:
      # With P=0 nothing is multilingual: the seen sweep's start is the pinch sweep's.
      name = "pinch_p0" if p == 0 else f"pinch_seen_p{p}"
      b.score(b.tuned(name, seed, "seen", p), langs)
  if "num_langs" in s.experiments:
    if not s.unseen:
      raise ValueError("the num_langs experiment is scored on unseen languages; "
                       "Study.languages has none outside Study.seen")
    for k in s.k_values:
      if not 1 <= k <= len(s.data_seen):
        raise ValueError(f"Study.k_values: {k} is not in 1..{len(s.data_seen)} (the seen "
                         "languages)")
      # Every ordering starts with English (the data layer's rule), so K=1 is one model.
      for order in s.orderings[:1] if k == 1 else s.orderings:
        b.score(b.tuned(f"k{k}_o{order}", seed, "num_langs", [k, order]), s.unseen)
  if "pairs" in s.experiments:
    pairs = (s.pairs if s.pairs is not None
             else mixtures.random_pairs(s.data_languages, s.pairs_seed))
    for pair in pairs:
      l1, l2 = langreg.resolve(list(pair))
      mid = b.tuned(f"pair_{l1}_{l2}", seed, "pairs", [l1, l2])
      b.score(mid, [l for l in langs if l not in (l1, l2)])


# What `registration_bindings` sets: a study-level binding of one would be overridden.
_REGISTRATION = re.compile(r"^\s*((?:register_dataset\.(?:languages|seen|budget|seed|percents|"
                           r"n_orderings))|register_evalset\.languages|"
                           r"register_configured\.(?:datasets|evalsets))\s*=", re.MULTILINE)


def registration_bindings(study: Study) -> list[str]:
  """How train and infer steps register data: the study's dataset and eval set, in its
  languages, with its seen set, budget and seed, and exactly the P values and orderings its
  grid names (any P, not only the data layer's default ones)."""
  percents = sorted({*(study.pinch_values if "pinch" in study.experiments else ()),
                     *(study.seen_pinch_values if "seen" in study.experiments else ())})
  return [
      "import pinchjax.data.registry",
      f"register_configured.datasets = [{study.dataset!r}]",
      f"register_configured.evalsets = [{study.evalset!r}]",
      f"register_dataset.languages = {list(study.data_languages)!r}",
      f"register_dataset.seen = {list(study.data_seen)!r}",
      f"register_dataset.budget = {study.budget!r}",
      f"register_dataset.seed = {study.pairs_seed!r}",
      f"register_dataset.percents = {percents!r}",
      f"register_dataset.n_orderings = {max(study.orderings, default=0) + 1}",
      f"register_evalset.languages = {list(study.languages)!r}",
  ]


# Study itself and how it is executed (ray_executor.StudyExecutor) configure no step.
_STUDY_SECTION = re.compile(r"# Parameters for (?:[\w.]+/)*(?:[\w.]+\.)?(?:Study|StudyExecutor):")


def study_level_gin() -> str:
  """The parsed gin configuration outside `Study`: what the study file binds for every step,
  with the command line's overrides applied ("" when it binds nothing else)."""
  blocks = [b.strip("\n") for b in gin.config_str().split("\n\n")]  # imports, macros, sections
  kept = [b for b in blocks if b and not _STUDY_SECTION.match(b)]
  if all(line.startswith("import ") for b in kept for line in b.splitlines()):
    return ""  # imports alone configure nothing
  return "\n\n".join(kept) + "\n"


def expand(study: Study, study_gin: str = "") -> Grid:
  """The study's models, scored cells and steps (train -> infer -> judge), deduplicated.

  `study_gin` is the study-level configuration (`study_level_gin()`), given to every step
  ahead of the registration bindings, so it is part of every step's config hash.
  """
  texts = {"the study": study_gin}
  for kind in ("train", "infer"):
    texts[f"Study.{kind}['bindings']"] = "\n".join(getattr(study, kind).get("bindings", ()))
  for where, text in texts.items():
    clash = _REGISTRATION.search(text)
    if clash:
      raise ValueError(f"{where} binds {clash.group(1)}, which the Study sets for every step "
                       "(Study.data_languages, .data_seen, .languages, .budget, .pairs_seed, "
                       ".pinch_values, .orderings, .dataset, .evalset): remove that binding")
  b = _Builder(study)
  for seed in study.seeds:
    _add_experiments(b, seed)
  # One base model (given or pretrained), judged against the first seed's baselines.
  if study.base_checkpoint or study.pretrain is not None:
    b.score(b.model(BASE, study.seeds[0], BASE, None, None), study.languages)
  # Every scored language needs its baseline M_L, tuned with the same seed.
  baselines: dict[tuple[str, str], str] = {}
  for mid, lang in list(b.cells):
    baselines[(mid, lang)] = b.tuned(f"mono_{lang}", b.models[mid].seed, "baseline", lang)
  for base in dict.fromkeys(baselines.values()):  # ordered: the step order is deterministic
    baselines[(base, b.models[base].tags["baseline"])] = base
  b.score_all(baselines)

  steps: list[Step] = []
  data = (DATA,) if study.data is not None else ()
  everywhere = {"study_bindings": [study_gin]} if study_gin else {}
  if study.data is not None:
    steps.append(Step(DATA, "data", {**everywhere, **study.data}))
  if study.pretrain is not None:
    steps.append(Step(PRETRAIN, "pretrain", {**everywhere, **study.pretrain}, data))
    data += (PRETRAIN,)  # every later step starts from the base or reads its vocabulary
  if study.diagnose is not None and "base" in b.models:
    steps.append(Step(DIAGNOSE, "diagnose",
                      {"checkpoint": study.base_checkpoint, "languages": list(study.languages),
                       **everywhere, **study.diagnose}, data))
  registering = {"study_bindings": [study_gin] * bool(study_gin) + registration_bindings(study)}
  for m in b.models.values():
    if m.mixture is not None:
      steps.append(Step(f"train/{m.id}", "train",
                        {"model": m.id, "mixture": m.mixture, "seed": m.seed, **registering,
                         **study.train}, data))
  cells = tuple(b.cells)
  for mid, lang in cells:
    m = b.models[mid]
    deps = data + ((f"train/{mid}",) if m.mixture is not None else ())
    steps.append(Step(f"infer/{mid}/{lang}", "infer",
                      {"model": mid, "lang": lang, "task": f"{study.evalset}_{lang}",
                       "checkpoint": study.base_checkpoint if m.mixture is None else None,
                       **registering, **study.infer}, deps))
  for mid, lang in cells:
    base = baselines[(mid, lang)]
    deps = tuple(dict.fromkeys((f"infer/{mid}/{lang}", f"infer/{base}/{lang}")))
    steps.append(Step(f"judge/{mid}/{lang}", "judge",
                      {"model": mid, "lang": lang, "baseline": base, **everywhere,
                       **study.judge}, deps))
  return Grid(study, dict(b.models), cells, tuple(steps))


def describe(grid: Grid) -> dict[str, Any]:
  """The JSON the report reads: the study's languages and every model's coordinates."""
  s = grid.study
  return {
      "name": s.name, "dataset": s.dataset, "evalset": s.evalset,
      "experiments": list(s.experiments), "languages": list(s.languages),
      "seen": list(s.seen), "unseen": list(s.unseen), "seeds": list(s.seeds),
      "data_languages": list(s.data_languages), "data_seen": list(s.data_seen),
      "pretraining_share": s.pretraining_share,
      "models": {m.id: {"mixture": m.mixture, "seed": m.seed, "tags": m.tags}
                 for m in grid.models.values()},
  }
