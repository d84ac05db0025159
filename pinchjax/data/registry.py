"""SeqIO registration of datasets on disk: language tasks, the paper's mixtures, eval tasks.

Data layout (canonical JSONL, see pinchjax.data.canonical):

  DATA_DIR/{dataset}/train/{lang}.jsonl        tuning examples; the same ids in every language
  DATA_DIR/{dataset}/validation/{lang}.jsonl   optional held-out examples (validation loss)
  DATA_DIR/{evalset}/test/{lang}.jsonl         evaluation instructions (response may be empty)

`register_dataset("toy", data_dir, vocabulary, template)` registers

  tasks     {dataset}_{lang}               every example of one language (train, validation)
            {mixture}.{lang}               one language slice of a mixture (train)
  mixtures  {dataset}_mono_{lang}          each language present
            {dataset}_pinch_p{P}           P in `percents`, over `languages`, rest in English
            {dataset}_pinch_seen_p{P}      the same over the `seen` languages
            {dataset}_k{K}_o{ORDER}        K = 1..len(seen), ORDER = 0..n_orderings-1
            {dataset}_pair_{l1}_{l2}       the random pairing of `languages` drawn by `seed`

and `register_evalset("alpacafarm", data_dir, vocabulary, template)` registers
`{evalset}_{lang}` tasks over the test split. Mixture rates are the slices' example counts
(`slice_rate`: seqio.mixing_rate_num_examples' rule, with `temperature`), so sampling
follows the partition.
Partitions come from pinchjax.data.mixtures over the ids of the `base` language; every other
language must have exactly the same ids (a parallel set), else registration fails, naming
the language and some mismatched ids. Mixtures needing a language whose file is missing are
not registered, and the result says so.

Registration is idempotent: the same name with the same configuration and unchanged files is
a no-op; anything else is an error unless `replace=True`. Tasks are built by
pinchjax.data.sources.make_task ("inputs" = chat prompt, "targets" = response + end-of-turn
+ EOS).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
from typing import Any, Sequence

import gin
import seqio

from pinchjax import languages as langs_lib
from pinchjax.data import canonical, chat, mixtures, sources, vocab as vocab_lib
from pinchjax.data.sources import JsonlSource, layout_path  # part of this module's interface

DEFAULT_PERCENTS = (0, 1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
NEEDS_MISSING = "needs missing languages "  # + comma list: why a mixture is not registered


class NotRegisteredError(ValueError):
  """No task or mixture has the name asked for."""


class RegistrationConflictError(ValueError):
  """A name is registered already, with another configuration or other files."""


def _fingerprint(config: dict[str, Any], files: Sequence[str]) -> str:
  stamps = []
  for f in sorted(files):
    st = os.stat(f)
    stamps.append((f, st.st_size, st.st_mtime_ns))
  blob = json.dumps({"config": config, "files": stamps}, sort_keys=True, default=str)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _remove(names: Sequence[str]) -> None:
  for n in names:
    seqio.MixtureRegistry.remove(n)
    seqio.TaskRegistry.remove(n)


def _claim(name: str, fingerprint: str, replace: bool) -> Registered | None:
  """The existing registration if it has this fingerprint; None if `name` must be registered."""
  old = _REGISTERED.get(name)
  if old is None:
    return None
  if old[0] == fingerprint:
    logging.info("%s: already registered with this configuration", name)
    return old[1]
  if not replace:
    raise RegistrationConflictError(f"{name!r} is already registered with another configuration or other "
                     "files; pass replace=True to re-register it")
  _remove(old[1].names)
  del _REGISTERED[name]
  return None


@dataclasses.dataclass
class Registered:
  """What a registration produced, and what it left out and why."""
  name: str
  tasks: list[str]
  mixtures: list[str]
  languages: list[str]
  not_registered: dict[str, str]  # name or language -> reason

  @property
  def names(self) -> list[str]:
    return self.tasks + self.mixtures

  def summary(self) -> str:
    s = (f"{self.name}: {len(self.tasks)} tasks, {len(self.mixtures)} mixtures, "
         f"languages {','.join(self.languages)}")
    if self.not_registered:
      s += "; not registered: " + "; ".join(f"{k} ({v})" for k, v in self.not_registered.items())
    return s


_REGISTERED: dict[str, tuple[str, Registered]] = {}  # dataset name -> (fingerprint, result)


def _as_vocabulary(vocabulary: seqio.Vocabulary | str) -> seqio.Vocabulary:
  return vocab_lib.get_vocabulary(vocabulary) if isinstance(vocabulary, str) else vocabulary


def slice_rate(task: seqio.Task, temperature: float = 1.0) -> float:
  """num_examples ** (1 / temperature): seqio.mixing_rate_num_examples for uncached tasks,
  without its per-task warning that the task is not cached."""
  return float(task.num_input_examples("train")) ** (1.0 / temperature)


def _tag(percent: float) -> str:
  return f"{percent:g}"


@gin.configurable
def register_dataset(name: str, data_dir: str, vocabulary: seqio.Vocabulary | str | None,
                     template: str, *, languages: Sequence[str] | str = "paper",
                     seen: Sequence[str] | str = "seen", base: str = "en",
                     budget: int | None = None, seed: int = 0,
                     percents: Sequence[float] = DEFAULT_PERCENTS, n_orderings: int = 3,
                     temperature: float = 1.0, replace: bool = False,
                     dry_run: bool = False) -> Registered:
  """Registers the tasks and mixtures of DATA_DIR/{name} (see the module docstring).

  Args:
    name: the dataset directory under data_dir, and the prefix of every registered name.
    data_dir: the data root.
    vocabulary: a seqio Vocabulary, or a path for pinchjax.data.vocab.get_vocabulary (unused
      by a dry run).
    template: chat template name (pinchjax.data.chat; "tokenizer": the vocabulary's own).
    languages: the mixture languages (a set name or codes); `base` must be among them.
    seen: the languages of the `pinch_seen` and `k{K}` mixtures.
    base: the language that keeps the non-multilingual share (English in the paper).
    budget: examples per mixture; None = all ids of the parallel set.
    seed: fixes id selection, remainders, orderings and pairs.
    percents: the P values of the pinch mixtures.
    n_orderings: orderings of the seen languages for the k{K}_o{ORDER} mixtures.
    temperature: mixing temperature (1 = rates proportional to slice sizes).
    replace: re-register a name that was registered with another configuration.
    dry_run: read and check the files, register nothing: the result names what would be
      registered (the vocabulary is not loaded).
  """
  languages, seen = langs_lib.resolve(languages), langs_lib.resolve(seen)
  files = {lang: {split: layout_path(data_dir, name, split, lang)
                  for split in ("train", "validation")
                  if os.path.isfile(layout_path(data_dir, name, split, lang))}
           for lang in dict.fromkeys(languages + seen)}
  result = Registered(name, [], [], [], {})
  for lang, f in files.items():
    if "train" not in f:
      result.not_registered[lang] = f"no {layout_path(data_dir, name, 'train', lang)}"
  present = [l for l, f in files.items() if "train" in f]
  if base not in present:
    raise FileNotFoundError(f"{layout_path(data_dir, name, 'train', base)} is missing: "
                            f"dataset {name!r} needs its base language {base!r}")
  if not dry_run:
    vocabulary = _as_vocabulary(vocabulary)
    tmpl = chat.get_template(template, vocabulary)
    config = {"data_dir": os.path.abspath(data_dir), "vocab": vocab_lib.fingerprint(vocabulary),
              "template": tmpl.name, "languages": languages, "seen": seen, "base": base,
              "budget": budget, "seed": seed, "percents": list(percents),
              "n_orderings": n_orderings, "temperature": temperature}
    fp = _fingerprint(config, [p for f in files.values() for p in f.values()])
    existing = _claim(name, fp, replace)
    if existing is not None:
      return existing

  per_lang = {l: sources.load_records(files[l]["train"], l) for l in present}
  ids = canonical.aligned_ids(per_lang, base, lambda l: files[l]["train"])
  plan = mixture_plan(name, ids, present, languages=languages, seen=seen, base=base,
                      budget=budget, seed=seed, percents=percents, n_orderings=n_orderings)
  result.not_registered.update(plan.not_made)
  result.languages = present
  if dry_run:
    result.tasks = [f"{name}_{l}" for l in present]
    for mixture, partition in plan.partitions.items():
      result.mixtures.append(mixture)
      result.tasks += [f"{mixture}.{l}" for l in partition]
    return result
  rate = functools.partial(slice_rate, temperature=temperature)
  try:
    _register_all(result, name, files, present, plan, vocabulary, tmpl, rate)
  except Exception:
    _remove(result.names)  # no half-registered dataset: a retry must start clean
    raise
  _REGISTERED[name] = (fp, result)
  logging.info("%s", result.summary())
  return result


@dataclasses.dataclass
class MixturePlan:
  """The mixtures register_dataset makes from a parallel set: each name with its partition,
  and the names it cannot make with why."""
  partitions: dict[str, mixtures.Partition]
  not_made: dict[str, str]  # name or name pattern -> reason


def mixture_plan(name: str, ids: Sequence[str], present: Sequence[str], *,
                 languages: Sequence[str], seen: Sequence[str], base: str, budget: int | None,
                 seed: int, percents: Sequence[float], n_orderings: int) -> MixturePlan:
  """Every mixture of dataset `name` that its `present` languages (those with a train file)
  allow, with register_dataset's arguments (see its docstring); `ids` are the parallel set's."""
  plan = MixturePlan({}, {})
  for lang in languages:
    plan.partitions[f"{name}_mono_{lang}"] = mixtures.mono(ids, budget, lang, seed)
  for p in percents:
    plan.partitions[f"{name}_pinch_p{_tag(p)}"] = mixtures.pinch(ids, budget, languages, p,
                                                                 seed, base)
  if base in seen:
    for p in percents:
      plan.partitions[f"{name}_pinch_seen_p{_tag(p)}"] = mixtures.pinch(ids, budget, seen, p,
                                                                        seed, base)
    # Few seen languages have fewer distinct orders than asked: register those that exist.
    possible = math.factorial(len(seen) - 1)
    if possible < n_orderings:
      plan.not_made[f"{name}_k*_o{possible}..{n_orderings - 1}"] = (
          f"only {possible} orderings of {len(seen)} seen languages with {base} first")
    for o, order in enumerate(mixtures.orderings(seen, min(n_orderings, possible), seed, base)):
      for k in range(1, len(order) + 1):
        plan.partitions[f"{name}_k{k}_o{o}"] = mixtures.first_k(ids, budget, order, k, seed)
  else:
    plan.not_made[f"{name}_pinch_seen_*, {name}_k*"] = f"{base} is not a seen language"
  if len(languages) % 2 == 0:
    for l1, l2 in mixtures.random_pairs(languages, seed):
      plan.partitions[f"{name}_pair_{l1}_{l2}"] = mixtures.pair(ids, budget, l1, l2, seed)
  else:
    plan.not_made[f"{name}_pair_*"] = f"{len(languages)} languages cannot be paired"
  for mixture, partition in list(plan.partitions.items()):
    missing = sorted(set(partition) - set(present))
    if missing:
      plan.not_made[mixture] = NEEDS_MISSING + ",".join(missing)
      del plan.partitions[mixture]
  return plan


def _register_all(result: Registered, name: str, files: dict[str, dict[str, str]],
                  present: list[str], plan: MixturePlan, vocabulary: seqio.Vocabulary,
                  tmpl: chat.ChatTemplate, rate) -> None:
  """Adds the language tasks and the plan's mixtures to seqio, recording names in `result`."""
  for lang in present:
    sources.make_task(f"{name}_{lang}", JsonlSource(files[lang], lang), vocabulary, tmpl)
    result.tasks.append(f"{name}_{lang}")
  for mixture, partition in plan.partitions.items():
    subtasks = []
    for lang, slice_ids in partition.items():
      task_name = f"{mixture}.{lang}"
      src = JsonlSource({"train": files[lang]["train"]}, lang, frozenset(slice_ids),
                        parent=f"{name}_{lang}")
      subtasks.append(sources.make_task(task_name, src, vocabulary, tmpl))
      result.tasks.append(task_name)
    seqio.MixtureRegistry.add(mixture, [(t, rate) for t in subtasks])
    result.mixtures.append(mixture)


@gin.configurable
def register_evalset(name: str, data_dir: str, vocabulary: seqio.Vocabulary | str | None,
                     template: str, *, languages: Sequence[str] | str = "paper",
                     split: str = "test", replace: bool = False,
                     dry_run: bool = False) -> Registered:
  """Registers `{name}_{lang}` tasks over DATA_DIR/{name}/{split}/{lang}.jsonl (responses may
  be empty: these are the instructions models answer for the judge); `dry_run` registers
  nothing and returns the tasks it would register."""
  languages = langs_lib.resolve(languages)
  result = Registered(name, [], [], [], {})
  files = {}
  for lang in languages:
    path = layout_path(data_dir, name, split, lang)
    if os.path.isfile(path):
      files[lang] = path
    else:
      result.not_registered[lang] = f"no {path}"
  if not files:
    raise FileNotFoundError(f"evaluation set {name!r}: no {split} files under "
                            f"{os.path.join(data_dir, name, split)}")
  if dry_run:
    result.tasks, result.languages = [f"{name}_{l}" for l in files], list(files)
    return result
  vocabulary = _as_vocabulary(vocabulary)
  tmpl = chat.get_template(template, vocabulary)
  config = {"data_dir": os.path.abspath(data_dir), "vocab": vocab_lib.fingerprint(vocabulary),
            "template": tmpl.name, "languages": languages, "split": split}
  fp = _fingerprint(config, list(files.values()))
  existing = _claim(name, fp, replace)
  if existing is not None:
    return existing
  for lang, path in files.items():
    src = JsonlSource({split: path}, lang, require_response=False)
    sources.make_task(f"{name}_{lang}", src, vocabulary, tmpl)
    result.tasks.append(f"{name}_{lang}")
  result.languages = list(files)
  _REGISTERED[name] = (fp, result)
  logging.info("%s", result.summary())
  return result


@gin.configurable
def register_configured(data_dir: str | None = None, datasets: Sequence[str] = (),
                        evalsets: Sequence[str] = (),
                        vocabulary: seqio.Vocabulary | str | None = None,
                        template: str | None = None, dry_run: bool = False
                        ) -> list[Registered]:
  """Registers the gin-configured datasets and evaluation sets; never fails on missing data.

  `data_dir` defaults to $PINCHJAX_DATA_DIR. Each registration that cannot happen (no data
  directory, no vocabulary or template bound, a dataset directory missing) is logged and
  skipped; other options come from gin bindings of register_dataset / register_evalset.
  With `dry_run` nothing is registered and nothing skipped: the result has what each
  registration would make, and one that cannot happen (for the reasons above, or its files
  fail their checks) is a Registered with only `not_registered[name]`, the reason.
  """
  data_dir = data_dir or os.environ.get("PINCHJAX_DATA_DIR") or None
  unbound = [f"register_configured.{k}" for k, v in (("data_dir", data_dir),
             ("vocabulary", vocabulary), ("template", template)) if v is None]
  if not (datasets or evalsets):
    return []
  done = []
  for fn, names in ((register_dataset, datasets), (register_evalset, evalsets)):
    for n in names:
      if unbound:
        reason = (f"{' and '.join(unbound)} not bound (the data directory can also be "
                  "$PINCHJAX_DATA_DIR)")
      elif not os.path.isdir(os.path.join(data_dir, n)):
        reason = f"no directory {os.path.join(data_dir, n)}"
      elif not dry_run:
        done.append(fn(n, data_dir, vocabulary, template))
        continue
      else:
        try:
          done.append(fn(n, data_dir, vocabulary, template, dry_run=True))
          continue
        except (OSError, ValueError) as e:  # a missing base file, bad records, unaligned ids
          reason = str(e).splitlines()[0]  # gin adds the configurable called on later lines
      if dry_run:
        done.append(Registered(n, [], [], [], {n: reason}))
      else:
        logging.warning("not registering %s: %s", n, reason)
  return done


def dataset_dir_for(name: str, data_dir: str) -> str | None:
  """The dataset (or evaluation set) directory under data_dir that `name` was derived from:
  the longest directory name d with name == d or name starting with d + "_"."""
  if not os.path.isdir(data_dir):
    return None
  dirs = [d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d))]
  fits = [d for d in dirs if name == d or name.startswith(d + "_")]
  return max(fits, key=len) if fits else None


def registered_names() -> list[str]:
  """Every task and mixture name pinchjax registered in this process."""
  return sorted(n for _, result in _REGISTERED.values() for n in result.names)


def get_provider(name: str) -> seqio.Task | seqio.Mixture:
  """A registered task or mixture; on a miss, registers the gin-configured data and retries."""
  for attempt in range(2):
    try:
      return seqio.get_mixture_or_task(name)
    except ValueError:
      if attempt == 0:
        register_configured()
  known = registered_names()
  raise NotRegisteredError(f"no SeqIO task or mixture {name!r}; pinchjax registered "
                   f"{len(known)} names: {', '.join(known[:40])}"
                   f"{' ...' if len(known) > 40 else ''}. Register data with "
                   "pinchjax.data.registry.register_dataset or bind register_configured in gin.")


def mixture_stats(name: str, split: str = "train") -> dict[str, Any]:
  """Examples per language, total and sampling share of a registered mixture or task."""
  provider = get_provider(name)
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  counts: dict[str, int] = {}
  rates: dict[str, float] = {}
  for task in tasks:
    if not isinstance(task.source, JsonlSource):
      raise ValueError(f"{task.name} is not a pinchjax task over canonical JSONL")
    lang = task.source.lang
    counts[lang] = counts.get(lang, 0) + task.num_input_examples(split)
    rate = provider.get_rate(task) if isinstance(provider, seqio.Mixture) else 1.0
    rates[lang] = rates.get(lang, 0.0) + rate
  total_rate = sum(rates.values())
  return {"name": name, "split": split, "languages": counts, "total": sum(counts.values()),
          "shares": {l: r / total_rate for l, r in rates.items()}}
