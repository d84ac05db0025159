"""`pinchjax study STUDY.gin --executor ray`: a study's steps as Ray tasks over a cluster.

Every step that is not already done becomes one Ray task, with the resources its kind asks
for (`StudyExecutor.resources`: CPUs, GPUs, custom resources such as a TPU host's) and its
dependencies' tasks' results as arguments, so Ray starts it only once they are done and
independent steps (the models of a study, their decodes, their judgements) run at once on
whatever machines have the resources. The driver (the `pinchjax study` process) alone writes
the manifest: `queued` when it submits a step, then `done`, `failed`, `skipped` or
`interrupted` as each task ends, so a rerun of the command resumes exactly as with the
sequential runner (a queued, running or interrupted step runs again in its own directory,
where trainer and decoder resume from what they wrote). A step that fails is reported with its
error; the steps that need it are skipped; the others still run.

Ray is an optional extra (`pip install pinchjax[ray]`): this module imports it only when a
study runs on it. Every machine of the cluster needs pinchjax installed and the study's
results directory on a shared file system (the steps read each other's outputs by path).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Mapping

import gin

from pinchjax.study import grid as grid_lib
from pinchjax.study import runner as runner_lib

EXECUTORS = ("sequential", "ray")
# Ray's task options a step kind may set (`ray.remote(...).options`).
RAY_OPTIONS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")
DEFAULT_RESOURCES = {"data": {"num_cpus": 1}, "train": {"num_cpus": 1},
                     "infer": {"num_cpus": 1}, "judge": {"num_cpus": 1},
                     "pretrain": {"num_cpus": 1}, "diagnose": {"num_cpus": 1}}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class StudyExecutor:
  """How a study's steps are run; not part of any step's config hash.

  Attributes:
    name: "sequential" (one step after another in this process) or "ray".
    ray_address: the cluster to join ("auto", "ray://head:10001"); None starts a local one.
    ray_num_cpus: CPUs of a local cluster (None: all of this machine's).
    resources: step kind -> Ray task options, e.g. on TPU VMs
      {'train': {'num_cpus': 8, 'resources': {'TPU': 8}}, 'judge': {'num_cpus': 1}}.
  """
  name: str = "sequential"
  ray_address: str | None = None
  ray_num_cpus: int | None = None
  resources: Mapping[str, Mapping[str, Any]] = dataclasses.field(
      default_factory=lambda: DEFAULT_RESOURCES)

  def __post_init__(self):
    if self.name not in EXECUTORS:
      raise ValueError(f"StudyExecutor.name: unknown executor {self.name!r}; known: "
                       f"{', '.join(EXECUTORS)}")
    for kind, options in self.resources.items():
      if kind not in DEFAULT_RESOURCES:
        raise ValueError(f"StudyExecutor.resources: unknown step kind {kind!r}; known: "
                         f"{', '.join(DEFAULT_RESOURCES)}")
      unknown = sorted(set(options) - set(RAY_OPTIONS))
      if unknown:
        raise ValueError(f"StudyExecutor.resources[{kind!r}]: unknown Ray options {unknown}; "
                         f"known: {', '.join(RAY_OPTIONS)}")

  def options(self, kind: str) -> dict[str, Any]:
    """Ray task options of a step kind."""
    return dict(self.resources.get(kind, DEFAULT_RESOURCES[kind]))

  def fresh_process(self, kind: str) -> bool:
    """A step on accelerators runs in a fresh worker process: JAX binds the chips it sees
    once per process, and Ray may give the next task other chips (TPU_VISIBLE_CHIPS,
    CUDA_VISIBLE_DEVICES)."""
    options = self.options(kind)
    return bool(options.get("num_gpus") or options.get("resources"))


def run_step(execute: runner_lib.Executor, step: grid_lib.Step, out_dir: str,
             dep_dirs: Mapping[str, str], cache_dir: str | None, *deps: dict[str, Any]
             ) -> dict[str, Any]:
  """The body of a step's Ray task: runs it unless a dependency did not finish.

  Returns {"id", "status", "started", ...}: `done` with its outputs, `failed` or
  `interrupted` with the error, or `skipped` with the step (`blocker`) that stopped it.
  Never raises, so a dependent task always starts and learns why it cannot run.
  """
  blocked = next((d for d in deps if d["status"] != "done"), None)
  if blocked is not None:
    return {"id": step.id, "status": "skipped", "started": time.time(),
            "blocker": blocked.get("blocker", blocked["id"])}
  if cache_dir:  # as the sequential study does: models of a study share compiled programs
    import jax  # pylint: disable=import-outside-toplevel
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  inputs = {d["id"]: {k: os.path.join(dep_dirs[d["id"]], v) for k, v in d["outputs"].items()}
            for d in deps}
  start = time.time()
  try:
    outputs = dict(execute(step, inputs, out_dir))
  except runner_lib.Interrupted as e:
    return {"id": step.id, "status": "interrupted", "started": start, "error": str(e)}
  except Exception as e:  # reported per step; the study goes on with what does not need it
    return {"id": step.id, "status": "failed", "started": start, **runner_lib.failure(e)}
  return {"id": step.id, "status": "done", "started": start, "outputs": outputs}


def run(run: runner_lib.Runner, config: StudyExecutor,
        cache_dir: str | None = None) -> runner_lib.Summary:
  """Runs the steps of `run` that are not done as Ray tasks; the driver writes the manifest."""
  import ray  # pylint: disable=import-outside-toplevel
  if not ray.is_initialized():
    ray.init(address=config.ray_address, num_cpus=config.ray_num_cpus,
             log_to_driver=False)
  tasks = {True: ray.remote(max_calls=1)(run_step), False: ray.remote(run_step)}
  invocation, summary = run.start_invocation()
  steps = {s.id: s for s in run.grid.steps}
  refs: dict[str, Any] = {}  # step id -> its task's result
  for step in run.grid.steps:
    if run.is_done(step):
      summary.reused.append(step.id)
      continue
    deps = [refs[d] if d in refs else {"id": d, "status": "done",
                                       "outputs": run.manifest["steps"][d]["outputs"]}
            for d in step.deps]
    out_dir = run.begin(step, status="queued")
    task = tasks[config.fresh_process(step.kind)]
    refs[step.id] = task.options(name=step.id, max_retries=0, **config.options(step.kind)).remote(
        run.executors[step.kind], step, out_dir, {d: run.step_dir(d) for d in step.deps},
        cache_dir, *deps)
  total, settled = len(refs), set()
  run.log(f"{total} steps submitted to Ray ({len(summary.reused)} reused)")

  def settle(step_id: str) -> None:
    """Records a finished task; its dependencies first (they finished before it started)."""
    if step_id in settled:
      return
    for d in steps[step_id].deps:
      if d in refs:
        settle(d)
    settled.add(step_id)
    step = steps[step_id]
    try:
      result = ray.get(refs[step_id])
    except Exception as e:  # the task itself died (worker lost, out of memory)
      result = {"id": step_id, "status": "failed", "started": time.time(), **runner_lib.failure(e)}
    status = result.pop("status")
    start = result.pop("started")
    result.pop("id")
    n = f"[{len(settled)}/{total}] {step_id}"
    if status == "skipped":
      run.skip(step, result["blocker"], summary)
      run.log(f"{n}: skipped ({result['blocker']} did not finish)")
      return
    run.finish(step, status, start, **result)
    entry = run.manifest["steps"][step_id]
    if status == "done":
      summary.ran.append(step_id)
      run.log(f"{n}: done in {entry['seconds']:.1f}s")
    else:
      summary.failed.append(step_id)
      run.log(f"{n}: {status.upper()}: {entry['error']}")
    invocation.update(ran=summary.ran, failed=summary.failed)

  pending = list(refs.values())
  ids = {ref: step_id for step_id, ref in refs.items()}
  while pending:
    ready, pending = ray.wait(pending, num_returns=1)
    for ref in ready:
      settle(ids[ref])
  run.end_invocation(invocation, summary)
  interrupted = [s for s in summary.failed
                 if run.manifest["steps"][s]["status"] == "interrupted"]
  if interrupted:
    raise runner_lib.Interrupted(f"steps {', '.join(interrupted)} were preempted")
  return summary
