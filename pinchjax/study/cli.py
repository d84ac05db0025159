"""`pinchjax study GIN [--dry-run] [--results DIR]`: run a study's grid, then its report.

The study file is parsed while the arguments are parsed, before `pinchjax.cli` applies
`--gin_file` and `--gin.X=Y`, so command-line overrides win over the study file:
  pinchjax study gin/studies/toy_demo.gin --gin.Study.seeds=[0,1]
Bindings outside `Study` (DATA_DIR, ...) from either are study-level: they reach every step.
A dry run lists the steps and runs the preflight (pinchjax.study.preflight); a real run runs
the preflight first too, and runs nothing when it finds a problem. Results go to --results,
by default $PINCHJAX_RESULTS/STUDY_NAME or else ~/pinchjax_results/STUDY_NAME: outside the
checkout, so a study started from the repository does not write into it.

`--executor ray [--ray-address ADDR]` (aliases of StudyExecutor.name and .ray_address) runs
independent steps at once as Ray tasks (pinchjax.study.ray_executor); the executor is not
part of any step's config hash, so a study may be resumed with another executor. Launched
on every host of a multi-host slice (JAX_COORDINATOR_ADDRESS..., or PINCHJAX_MULTIHOST=1 as
launch/tpu.sh sets), the processes share the work (pinchjax.study.multihost).
"""
from __future__ import annotations

import argparse
import os

import gin

from pinchjax import gin_config
from pinchjax.study import grid, multihost, preflight, ray_executor, report, runner

RESULTS_ENV = "PINCHJAX_RESULTS"


def _parse_study_file(path: str) -> str:
  gin_config.parse_gin([path], [])
  return path


def register(parser: argparse.ArgumentParser) -> None:
  parser.description = "Run a study (a gin file of gin/studies/) as a resumable grid of steps."
  parser.add_argument("gin", type=_parse_study_file, help="the study's gin file")
  parser.add_argument("--dry-run", action="store_true",
                      help="list the steps and what a run would do to each, run nothing")
  parser.add_argument("--results", default=None,
                      help=f"results directory (default: ${RESULTS_ENV}/STUDY_NAME, else "
                      "~/pinchjax_results/STUDY_NAME)")
  gin_config.alias(parser, "--executor", "StudyExecutor.name", choices=ray_executor.EXECUTORS,
                   help="how the steps run: one after another here, or concurrently as Ray "
                   "tasks")
  gin_config.alias(parser, "--ray-address", "StudyExecutor.ray_address",
                   help="the Ray cluster to join (default: start a local one)")
  parser.set_defaults(func=main)


def default_results(name: str) -> str:
  """Where a study's results go unless --results says: never the working directory, which is
  often the repository itself."""
  root = os.environ.get(RESULTS_ENV) or os.path.join(os.path.expanduser("~"), "pinchjax_results")
  return os.path.join(root, name)


def _preflight(run: runner.Runner, todo: int) -> bool:
  """Prints the preflight's findings; True when there is no problem."""
  problems = preflight.check(run)
  for line in preflight.report(problems, todo):
    print(line)
  return not problems


def main(args: argparse.Namespace) -> int:
  study = grid.Study()
  executor = ray_executor.StudyExecutor()  # read now: the preflight clears gin
  config = gin.config_str()  # the study as run, overrides applied (the preflight clears gin)
  g = grid.expand(study, grid.study_level_gin())
  results = args.results or default_results(study.name)
  if args.dry_run:
    run = runner.Runner(g, results, {})
    plan = run.plan()
    for step, action in plan:
      print(f"{action:5s}  {step.id}")
    todo = sum(action == "run" for _, action in plan)
    print(f"{len(plan)} steps ({len(g.models)} models, {len(g.cells)} scored cells): "
          f"{todo} to run, {len(plan) - todo} done in {results}")
    return 0 if _preflight(run, todo) else 1
  import jax  # pylint: disable=import-outside-toplevel
  from pinchjax.study import executors  # the real stages: imported only when they run
  processes = multihost.current()  # several when launched on each host of a slice
  run = runner.Runner(g, results, executors.default(), processes=processes)
  ok = processes.primary and _preflight(run, sum(action == "run" for _, action in run.plan()))
  if not processes.all_agree(ok):
    if processes.primary:
      print("nothing ran: fix the problems above (`--dry-run` checks again)")
    return 1
  # Models of a study share shapes: their train and decode steps compile once, not per model.
  jax.config.update("jax_compilation_cache_dir", os.path.join(run.root, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  if processes.primary:
    os.makedirs(run.root, exist_ok=True)
    with open(os.path.join(run.root, "config.gin"), "w", encoding="utf-8") as f:
      f.write(config)
  try:
    if executor.name == "ray":
      summary = ray_executor.run(run, executor, os.path.join(run.root, "jax_cache"))
    else:
      summary = run.run()
  except runner.Interrupted as e:
    print(f"interrupted ({e}); rerun the same command to resume")
    return 1
  if not processes.primary:
    print(f"process {processes.index}: {len(summary.ran)} steps ran; process 0 writes the report")
    return 0 if summary.ok else 1
  print(f"{len(summary.ran)} steps ran, {len(summary.reused)} reused, "
        f"{len(summary.failed)} failed, {len(summary.skipped)} skipped")
  for step_id in summary.failed:
    print(f"FAILED {step_id}: {run.manifest['steps'][step_id]['error']}")
  path = report.build(results)
  print(f"report: {path}")
  unreliable = report.unreliable_judges(results)  # scores no finding may rest on
  for line in unreliable:
    print(line)
  return 0 if summary.ok and not unreliable else 1
