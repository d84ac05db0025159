"""Checks that a study's steps can run, before any does (`pinchjax study`, dry run or real).

For every step still to run, configured as its executor would configure it:
  train    the mixture it names is one the data layer registers with the study's languages,
           seen set and budget, from files that exist, parse and hold the same ids in every
           language; the model it starts from (train.init_hf_dir / .init_checkpoint_dir) and
           the tokenizer the data is registered with exist;
  infer    the same for its eval task, and the checkpoint it decodes (the base model's);
  judge    a judge behind an OpenAI-compatible server answers GET {base_url}/models listing
           the configured model.
Steps of one kind share their gin configuration, so each check runs once per configuration
(and server); a problem is reported once with every step it concerns. When the study's data
step has yet to run, its data cannot be checked: only models and judges are.
"""
from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import os
from typing import Any, Sequence

import gin
import httpx

from pinchjax import languages as langreg
from pinchjax.study import step_gin
from pinchjax.study import grid as grid_lib
from pinchjax.study import runner as runner_lib

# The modules whose configurables each kind's gin files bind (as its executor imports them).
_STAGE_MODULES = {"train": "pinchjax.train.trainer", "infer": "pinchjax.infer.run",
                  "judge": "pinchjax.judge.run"}
STUDY_LEVEL = ("bind it once at the study level (in the study file, or on the command line: "
               "--gin.{name}=...); study-level bindings reach every step")
_SHOWN_STEPS = 3


@dataclasses.dataclass
class Problem:
  problem: str
  fix: str
  steps: list[str]

  def lines(self) -> list[str]:
    shown = ", ".join(self.steps[:_SHOWN_STEPS])
    hidden = len(self.steps) - _SHOWN_STEPS
    more = f", ... ({hidden} more)" if hidden > 0 else ""
    n = f"{len(self.steps)} step{'s' * (len(self.steps) != 1)}"
    return [f"PROBLEM {self.problem} [{n}: {shown}{more}]", f"  fix: {self.fix}"]


class _Problems:
  """Problems keyed by (problem, fix), each with the steps it concerns, in first-seen order."""

  def __init__(self):
    self.found: dict[tuple[str, str], list[str]] = {}

  def add(self, problem: str, fix: str, steps: Sequence[grid_lib.Step]) -> None:
    problem = " ".join(l.strip() for l in problem.splitlines())  # one line, whatever raised it
    ids = self.found.setdefault((problem, fix), [])
    ids += [s.id for s in steps if s.id not in ids]

  def list(self) -> list[Problem]:
    return [Problem(p, f, ids) for (p, f), ids in self.found.items()]


def report(problems: Sequence[Problem], n_steps: int) -> list[str]:
  if not problems:
    return [f"preflight: {n_steps} steps to run, no problems found"]
  return [f"preflight: {len(problems)} problem{'s' * (len(problems) != 1)} in the "
          f"{n_steps} steps to run", *(line for p in problems for line in p.lines())]


def _bound(parameter: str) -> Any:
  """The value gin binds to `parameter` (a macro resolved), or None when it binds none."""
  try:
    value = gin.query_parameter(parameter)
  except ValueError:  # not bound, or its configurable is unknown
    return None
  if (isinstance(value, gin.config.ConfigurableReference)
      and value.configurable.wrapped is gin.config.macro):
    return value.scoped_configurable_fn()  # a %MACRO
  return value


def model_dir_problem(path: str, source: str, needs_tokenizer: bool
                      ) -> tuple[str, str] | None:
  """What the model directory `path` (named by the binding `source`) lacks for pinchjax to
  load it, with the fix; None when complete.

  A Hugging Face directory holds config.json, *.safetensors and (`needs_tokenizer`: the
  stage reads its vocabulary there) tokenizer.json; a pinchjax checkpoint directory holds
  model_config.json and numbered step directories (its vocabulary is gin's)."""
  from pinchjax.checkpoints import metadata  # pylint: disable=import-outside-toplevel
  fix = (f"point {source} at a complete model directory (a Hugging Face download, or "
         "`pinchjax convert` output)")
  where = f"model directory {path} ({source})"
  if not os.path.isdir(path):
    return f"{where} does not exist", fix
  if os.path.isfile(os.path.join(path, "config.json")):
    missing = [] if glob.glob(os.path.join(path, "*.safetensors")) else ["*.safetensors weights"]
    if needs_tokenizer and not os.path.isfile(os.path.join(path, "tokenizer.json")):
      missing.append("tokenizer.json")
  elif os.path.isfile(os.path.join(path, metadata.MODEL_CONFIG)):
    steps = [d for d in os.listdir(path) if d.isdigit() and os.path.isdir(os.path.join(path, d))]
    missing = [] if steps else ["a checkpoint step directory (weights)"]
  else:
    return (f"{where} has no config.json (Hugging Face) or {metadata.MODEL_CONFIG} (pinchjax "
            "checkpoint)", fix)
  return (f"{where} has no {' and no '.join(missing)}", fix) if missing else None


def tokenizer_problem(path: str) -> tuple[str, str] | None:
  """None when `path` is a tokenizer pinchjax.data.vocab.get_vocabulary can read."""
  if os.path.isfile(path) and path.endswith((".model", ".json")):
    return None
  if os.path.isdir(path) and os.path.isfile(os.path.join(path, "tokenizer.json")):
    return None
  what = ("is not a sentencepiece .model, a tokenizer.json or a directory holding one"
          if os.path.exists(path) else "does not exist")
  return (f"tokenizer {path} {what}", "point TOKENIZER (register_configured.vocabulary) at the "
          "model's tokenizer: " + STUDY_LEVEL.format(name="TOKENIZER"))


def _missing_files(registered: Sequence[Any]) -> dict[str, str]:
  """language -> why it is absent (its file is missing), over the dry registrations."""
  codes = set(langreg.known())
  return {k: v for r in registered for k, v in r.not_registered.items() if k in codes}


def _check_data(steps: Sequence[grid_lib.Step], study: grid_lib.Study,
                problems: _Problems) -> None:
  """The data of steps sharing one configuration (gin already configured for them)."""
  from pinchjax.data import registry  # pylint: disable=import-outside-toplevel
  data_dir = _bound("register_configured.data_dir") or os.environ.get("PINCHJAX_DATA_DIR")
  vocabulary = _bound("register_configured.vocabulary")
  if vocabulary is None:
    problems.add("no tokenizer is bound (register_configured.vocabulary)",
                 "bind TOKENIZER: " + STUDY_LEVEL.format(name="TOKENIZER"), steps)
  elif isinstance(vocabulary, str) and tokenizer_problem(vocabulary):
    problems.add(*tokenizer_problem(vocabulary), steps)
  if data_dir is None:
    problems.add("no data directory is bound (register_configured.data_dir)",
                 "bind DATA_DIR: " + STUDY_LEVEL.format(name="DATA_DIR"), steps)
    return
  if not os.path.isdir(data_dir):
    problems.add(f"data directory {data_dir} does not exist",
                 "create it, or bind DATA_DIR to the data root: "
                 + STUDY_LEVEL.format(name="DATA_DIR"), steps)
    return
  registered = {r.name: r for r in registry.register_configured(dry_run=True)}
  missing = _missing_files(registered.values())
  for step in steps:
    name = step.params["mixture"] if step.kind == "train" else step.params["task"]
    source = study.dataset if step.kind == "train" else study.evalset
    r = registered.get(source)
    if r is not None and name in r.names:
      continue
    if r is None or source in r.not_registered:  # the whole set could not be read
      reason = r.not_registered[source] if r is not None else "not configured"
      where = os.path.join(data_dir, source)
      fix = (f"write {where} in the data layer's layout (README, Data)"
             if not os.path.isdir(where) else
             f"fix the files under {where} (canonical JSONL, every language with the base "
             "language's ids) or the Study's registration fields (Study.budget, .languages)")
      problems.add(f"{source}: {reason}", fix, [step])
    elif step.kind == "infer":
      problems.add(f"{source}: {r.not_registered.get(step.params['lang'], 'no file')}",
                   f"write it, or drop {step.params['lang']!r} from Study.languages", [step])
    elif r.not_registered.get(name, "").startswith(registry.NEEDS_MISSING):
      langs = r.not_registered[name][len(registry.NEEDS_MISSING):].split(",")
      files = "; ".join(missing.get(l, l) for l in langs)
      field = ("Study.languages" if study.data_languages == study.languages
               else "Study.data_languages")
      problems.add(f"{source} {r.not_registered[name]} ({files})",
                   f"write those files, or drop {', '.join(langs)} from {field}", [step])
    else:
      problems.add(f"{name} is not among the {len(r.mixtures)} mixtures the data layer makes "
                   f"of {source}: {r.not_registered.get(name, 'unknown name')}",
                   "check Study.languages, .seen, .pairs and .orderings", [step])


def _check_models(steps: Sequence[grid_lib.Step], problems: _Problems) -> None:
  """The model each step starts from (gin already configured for them)."""
  for step in steps:
    if step.kind == "train":
      for source in ("train.init_checkpoint_dir", "train.init_hf_dir"):
        if _bound(source):
          found = model_dir_problem(_bound(source), source, needs_tokenizer=False)
          if found:
            problems.add(*found, [step])
          break
    elif step.params.get("checkpoint"):  # found as the infer executor finds it
      path = runner_lib.find_file(step.params["checkpoint"])
      found = model_dir_problem(path if os.path.isdir(path) else step.params["checkpoint"],
                                "Study.base_checkpoint",
                                needs_tokenizer=_bound("load_generator.vocabulary") is None)
      if found:
        problems.add(*found, [step])


def judge_server_problem(base_url: str, model: str, headers: dict[str, str],
                         timeout_s: float = 5.0) -> tuple[str, str] | None:
  """None when the OpenAI-compatible server at base_url lists `model` at /models."""
  url = base_url.rstrip("/") + "/models"
  where = "judge/ClientConfig.base_url in the judge's gin files (Study.judge)"
  try:
    response = httpx.get(url, headers=headers, timeout=timeout_s)
    response.raise_for_status()
    listed = [m.get("id") for m in response.json().get("data", [])]
  except (httpx.HTTPError, ValueError, AttributeError) as e:
    return (f"judge server {url} does not answer ({type(e).__name__}: {e})",
            f"start the judge server, or set {where}")
  if model not in listed:
    return (f"judge server {url} does not list model {model!r} (it lists "
            f"{', '.join(map(repr, listed)) or 'none'})",
            f"serve {model!r} there, or set judge/ClientConfig.model to a listed one")
  return None


def _check_judge(steps: Sequence[grid_lib.Step], checked: dict[tuple, Any],
                 problems: _Problems) -> None:
  # pylint: disable=import-outside-toplevel
  from pinchjax.judge.backends import openai_compatible
  ref = _bound("judge_run.backend")
  if not (isinstance(ref, gin.config.ConfigurableReference)
          and ref.configurable.wrapped is openai_compatible.OpenAICompatibleBackend):
    return  # a local judge: nothing to reach
  config = ref.scoped_configurable_fn().config
  key = (config.base_url, config.model, config.api_key_env)
  if key not in checked:
    key_value = config.api_key()
    headers = {"Authorization": f"Bearer {key_value}"} if key_value else {}
    checked[key] = judge_server_problem(config.base_url, config.model, headers)
  if checked[key]:
    problems.add(*checked[key], steps)


def _config_key(step: grid_lib.Step) -> str:
  p = step.params
  return json.dumps([step.kind, p.get("gin_files"), p.get("bindings"),
                     p.get("study_bindings")], sort_keys=True)


def check(run: runner_lib.Runner) -> list[Problem]:
  """Every problem of the steps `run` would run (see the module docstring)."""
  todo = [s for s, action in run.plan() if action == "run"]
  data_pending = any(s.id == grid_lib.DATA for s in todo)
  inputs = {}
  if run.grid.study.data is not None and not data_pending:
    outputs = run.manifest["steps"][grid_lib.DATA]["outputs"]
    inputs = {grid_lib.DATA: {k: os.path.join(run.step_dir(grid_lib.DATA), v)
                              for k, v in outputs.items()}}
  groups: dict[str, list[grid_lib.Step]] = {}
  for step in todo:
    if step.kind in _STAGE_MODULES:
      groups.setdefault(_config_key(step), []).append(step)
  problems, servers = _Problems(), {}
  for steps in groups.values():
    kind = steps[0].kind
    try:
      importlib.import_module(_STAGE_MODULES[kind])
      step_gin.configure(steps[0], inputs)
      if kind == "judge":
        _check_judge(steps, servers, problems)
        continue
      if not data_pending:
        _check_data(steps, run.grid.study, problems)
      _check_models(steps, problems)
    except Exception as e:  # pylint: disable=broad-except  # a broken config is a problem too
      problems.add(f"cannot configure the {kind} steps: {type(e).__name__}: {e}",
                   f"fix Study.{kind} (its gin_files and bindings) or the study-level bindings",
                   steps)
  gin.clear_config()  # each step configures itself again
  return problems.list()
