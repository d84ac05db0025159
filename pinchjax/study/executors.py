"""The study's real step executors: each stage run in this process, configured as its command.

A step's parameters hold `gin_files` and `bindings`: what one would pass to the stage's own
command (`pinchjax train --gin_file=F --gin.X=Y`), and `study_bindings`: the study-level
configuration and the data registration the Study sets (see grid.py). Before each step gin
is cleared (the study itself was read into a `Study` before the first step) and the step's
gin files, its study bindings, then its own bindings are parsed; the macro DATA_DIR is bound
last to the data step's directory when the study has one. The stage's Python entry point is
then called with the step's inputs and outputs. In-process steps share one interpreter and
JAX runtime, which on a small CPU costs less than a process per step.

Outputs, relative to the step's directory:
  data    {"dir"}                       what the study's data function wrote
  train   {"checkpoint"}                the run's checkpoints directory
  infer   {"generations"}               generations JSONL of the eval task
  judge   {"cell", "scores", "verdicts"} cell.json (read by the report), the judge's files
  pretrain {"checkpoint", "vocabulary", "facts"}  the base (study/toy_base.py)
  diagnose {"diagnostics"}              the base model's diagnostics (study/diagnostics.py)
"""
from __future__ import annotations

import os

import numpy as np

from pinchjax.study import dotted
from pinchjax.study import grid as grid_lib
from pinchjax.study import multihost, results, runner
from pinchjax.study.step_gin import configure

GENERATIONS = "generations.jsonl"


def _register_data() -> None:
  from pinchjax.data import registry  # pylint: disable=import-outside-toplevel
  registry.register_configured()  # what this step's gin configures; idempotent


def data(step: grid_lib.Step, inputs: dict[str, dict[str, str]], out_dir: str
         ) -> dict[str, str]:
  configure(step, inputs)
  dotted.resolve(step.params["fn"])(out_dir, **step.params.get("kwargs", {}))
  return {"dir": "."}


def train(step: grid_lib.Step, inputs: dict[str, dict[str, str]], out_dir: str
          ) -> dict[str, str]:
  from pinchjax.train import trainer  # pylint: disable=import-outside-toplevel
  configure(step, inputs)
  _register_data()
  result = trainer.train(model_dir=out_dir, mixture_or_task_name=step.params["mixture"],
                         seed=step.params["seed"])
  if result.preempted:
    raise runner.Interrupted(f"preempted at step {result.step}, checkpoint saved")
  return {"checkpoint": os.path.relpath(result.checkpoint_dir, out_dir)}


def infer(step: grid_lib.Step, inputs: dict[str, dict[str, str]], out_dir: str
          ) -> dict[str, str]:
  from pinchjax.infer import run  # pylint: disable=import-outside-toplevel
  p = step.params
  checkpoint = (runner.find_file(p["checkpoint"]) if p["checkpoint"]
                else inputs[grid_lib.PRETRAIN]["checkpoint"] if p["model"] == grid_lib.BASE
                else inputs[f"train/{p['model']}"]["checkpoint"])
  configure(step, inputs)
  _register_data()
  out = os.path.join(out_dir, GENERATIONS)
  processes = multihost.current()
  if processes.count == 1:
    run.infer(checkpoint=checkpoint, out=out, task=p["task"], run=p["model"])
    return {"generations": GENERATIONS}
  # Several processes: each decodes its share of the rows on its own devices.
  run.infer(checkpoint=checkpoint, out=multihost.part_path(out, processes.index, processes.count),
            task=p["task"], run=p["model"], process_shard=(processes.index, processes.count))
  processes.barrier(f"{step.id}: parts written")
  if processes.primary:
    multihost.merge_parts(out, processes.count)
  return {"generations": GENERATIONS}


def _accuracy(checker: str | None, path: str) -> float | None:
  """Share of responses the task's checker accepts (None: the task has no checker)."""
  if checker is None:
    return None
  # pylint: disable=import-outside-toplevel
  from pinchjax.data import generations
  check = dotted.resolve(checker)
  return float(np.mean([bool(check(r, r["response"])) for r in generations.read(path)]))


def judge(step: grid_lib.Step, inputs: dict[str, dict[str, str]], out_dir: str
          ) -> dict[str, str]:
  # pylint: disable=import-outside-toplevel
  from pinchjax.judge import verdict_io
  from pinchjax.judge.run import judge_run
  p = step.params
  candidate = inputs[f"infer/{p['model']}/{p['lang']}"]["generations"]
  baseline = inputs[f"infer/{p['baseline']}/{p['lang']}"]["generations"]
  configure(step, inputs)
  scores = judge_run(candidate, out_dir, baseline=baseline, progress=False)
  verdicts = verdict_io.read_verdicts(os.path.join(out_dir, "verdicts.jsonl"))
  cell = results.write_cell(out_dir, p["model"], p["lang"], p["baseline"], verdicts, scores,
                            _accuracy(p.get("checker"), candidate))
  return {"cell": cell, "scores": "scores.json", "verdicts": "verdicts.jsonl"}


def default() -> dict[str, runner.Executor]:
  from pinchjax.study import diagnostics, toy_base  # pylint: disable=import-outside-toplevel
  return {"data": data, "train": train, "infer": infer, "judge": judge,
          "pretrain": toy_base.execute, "diagnose": diagnostics.execute}
