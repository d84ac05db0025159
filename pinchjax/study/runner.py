"""Runs a study's steps in a results directory, resumably, with a manifest.

Layout of a results directory:
  manifest.json        every step: kind, config hash, deps, status, outputs, timings, error;
                       and `invocations`: what each run of the study did (ran / reused / ...)
  study.json           the study's languages and models (what the report reads with it)
  steps/<step id>/     each step's own directory (`steps/train/mono_en_s0/...`)

A step's config hash covers its parameters, the contents of the gin files it names (and of
the files they include) and its dependencies' hashes, so a changed config reruns the step and everything downstream. A step
already `done` with the same hash is reused. A study killed mid-step leaves that step
`running` (or `interrupted`, when its stage saved its state on SIGTERM and the study
stopped); the rerun starts it again in the same directory (trainer and decoder resume from
what they wrote), whereas a step whose hash changed starts from an empty directory. The
manifest is replaced atomically (write, fsync, rename) at every status change.

An executor is a function `(step, inputs, out_dir) -> outputs`: `inputs` maps each
dependency's id to its outputs as absolute paths; `outputs` maps names to the files the step
wrote, relative to `out_dir`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
import traceback
from typing import Any, Callable, Mapping

from pinchjax import atomic_file
from pinchjax import gin_config
from pinchjax.study import grid as grid_lib
from pinchjax.study import multihost

class Interrupted(Exception):
  """Raised by an executor whose stage was preempted (SIGTERM) after saving its state: the
  study stops at once and a rerun resumes the step."""


Executor = Callable[[grid_lib.Step, dict[str, dict[str, str]], str], dict[str, str]]
MANIFEST = "manifest.json"
STUDY = "study.json"


def write_json(path: str, obj: Any) -> None:
  """Writes JSON so that a reader (or a kill) never sees a partial file."""
  atomic_file.write(path, [json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False)])


def read_json(path: str) -> Any:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def find_file(path: str) -> str:
  """A path as `pinchjax.gin_config` finds gin files: relative to the working directory, then the
  repository root (so studies name `gin/runs/tune.gin` or `toy_base/...` from anywhere)."""
  return path if os.path.exists(path) else os.path.join(gin_config.REPO_ROOT, path)


_INCLUDE = re.compile(r"""^\s*include\s+['"]([^'"]+)['"]""", re.MULTILINE)


def gin_digests(files: list[str], resolve: Callable[[str], str] = find_file
                ) -> dict[str, str]:
  """sha256 of each gin file and, recursively, of the files it `include`s."""
  out: dict[str, str] = {}
  todo = list(files)
  while todo:
    name = todo.pop()
    if name in out:
      continue
    with open(resolve(name), "rb") as f:
      data = f.read()
    out[name] = hashlib.sha256(data).hexdigest()
    todo += _INCLUDE.findall(data.decode("utf-8"))
  return out


def config_hash(step: grid_lib.Step, dep_hashes: list[str],
                resolve: Callable[[str], str] = find_file) -> str:
  """Hash of what determines a step's result; `resolve` finds the gin files it names."""
  files = gin_digests(list(step.params.get("gin_files", ())), resolve)
  blob = json.dumps({"kind": step.kind, "params": step.params, "files": files,
                     "deps": dep_hashes}, sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclasses.dataclass
class Summary:
  ran: list[str] = dataclasses.field(default_factory=list)
  reused: list[str] = dataclasses.field(default_factory=list)
  failed: list[str] = dataclasses.field(default_factory=list)
  skipped: list[str] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return not self.failed and not self.skipped


class Runner:
  """Executes a grid's steps in order; one instance per invocation of the study."""

  def __init__(self, grid: grid_lib.Grid, results_dir: str, executors: Mapping[str, Executor],
               log: Callable[[str], None] = print,
               resolve: Callable[[str], str] = find_file,
               processes: multihost.Processes | None = None):
    self.processes = processes or multihost.Processes()
    self.grid = grid
    self.root = os.path.abspath(results_dir)
    self.executors = executors
    self.log = log
    self.path = os.path.join(self.root, MANIFEST)
    self.manifest = (read_json(self.path) if os.path.exists(self.path)
                     else {"study": grid.study.name, "steps": {}, "invocations": []})
    self.hashes: dict[str, str] = {}
    for step in grid.steps:
      self.hashes[step.id] = config_hash(step, [self.hashes[d] for d in step.deps], resolve)

  def step_dir(self, step_id: str) -> str:
    return os.path.join(self.root, "steps", *step_id.split("/"))

  def is_done(self, step: grid_lib.Step) -> bool:
    entry = self.manifest["steps"].get(step.id)
    return bool(entry and entry["status"] == "done"
                and entry["config_hash"] == self.hashes[step.id])

  def plan(self) -> list[tuple[grid_lib.Step, str]]:
    """Each step with what a run would do to it: `reuse` or `run`."""
    return [(s, "reuse" if self.is_done(s) else "run") for s in self.grid.steps]

  def _save(self) -> None:
    if self.processes.primary:  # the others follow it (`_execute`)
      write_json(self.path, self.manifest)

  def _set(self, step: grid_lib.Step, **fields: Any) -> None:
    entry = self.manifest["steps"].setdefault(step.id, {})
    entry.update(kind=step.kind, config_hash=self.hashes[step.id], deps=list(step.deps),
                 **fields)
    self._save()

  def start_invocation(self) -> tuple[dict[str, Any], Summary]:
    """Writes study.json and opens this run's record in `invocations`."""
    self.processes.barrier("study: every process read the manifest")
    if self.processes.primary:
      os.makedirs(self.root, exist_ok=True)
      write_json(os.path.join(self.root, STUDY), grid_lib.describe(self.grid))
    invocation = {"started": time.time(), "ran": [], "failed": [], "skipped": [], "reused": 0}
    self.manifest["invocations"].append(invocation)
    return invocation, Summary()

  def end_invocation(self, invocation: dict[str, Any], summary: Summary) -> None:
    invocation.update(finished=time.time(), reused=len(summary.reused), ran=summary.ran,
                      failed=summary.failed, skipped=summary.skipped)
    self._save()

  def skip(self, step: grid_lib.Step, blocker: str, summary: Summary) -> None:
    summary.skipped.append(step.id)
    self._set(step, status="skipped", error=f"dependency {blocker} failed", outputs={})

  def run(self) -> Summary:
    invocation, summary = self.start_invocation()
    bad: dict[str, str] = {}  # step id -> the failed step that stops it
    total = len(self.grid.steps)
    for i, step in enumerate(self.grid.steps, 1):
      blocker = next((bad[d] for d in step.deps if d in bad), None)
      if blocker is not None:
        bad[step.id] = blocker
        self.skip(step, blocker, summary)
        self.log(f"[{i}/{total}] {step.id}: skipped ({blocker} failed)")
        continue
      if self.is_done(step):
        summary.reused.append(step.id)
        continue
      self.log(f"[{i}/{total}] {step.id}: running")
      if self._execute(step):
        summary.ran.append(step.id)
        entry = self.manifest["steps"][step.id]
        self.log(f"[{i}/{total}] {step.id}: done in {entry['seconds']:.1f}s")
      else:
        bad[step.id] = step.id
        summary.failed.append(step.id)
        self.log(f"[{i}/{total}] {step.id}: FAILED: {self.manifest['steps'][step.id]['error']}")
      invocation.update(ran=summary.ran, failed=summary.failed)
      self._save()
    self.end_invocation(invocation, summary)
    return summary

  def inputs(self, step: grid_lib.Step,
             outputs: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """Each dependency's outputs as absolute paths (from `outputs`, else the manifest)."""
    outputs = outputs or {d: self.manifest["steps"][d]["outputs"] for d in step.deps}
    return {d: {k: os.path.join(self.step_dir(d), v) for k, v in outputs[d].items()}
            for d in step.deps}

  def begin(self, step: grid_lib.Step, status: str = "running") -> str:
    """Marks a step running (or queued) and returns its directory, emptied if its config
    changed."""
    out_dir = self.step_dir(step.id)
    old = self.manifest["steps"].get(step.id)
    if self.processes.primary:
      if old is not None and old.get("config_hash") != self.hashes[step.id]:
        shutil.rmtree(out_dir, ignore_errors=True)  # never resume from another config's files
      os.makedirs(out_dir, exist_ok=True)
    runs = (old or {}).get("runs", 0) + 1
    self._set(step, status=status, started=time.time(), outputs={}, error=None, runs=runs)
    return out_dir

  def finish(self, step: grid_lib.Step, status: str, start: float, **fields: Any) -> None:
    """Records a step's end: `done` (with outputs), `failed` or `interrupted` (with error)."""
    now = time.time()
    self._set(step, status=status, finished=now, seconds=now - start, **fields)

  def _execute(self, step: grid_lib.Step) -> bool:
    out_dir = self.begin(step)
    group = self.processes
    if group.count > 1:
      group.barrier(f"{step.id}: begun")  # its directory is ready on every process
    start = time.time()
    try:
      outputs = (dict(self.executors[step.kind](step, self.inputs(step), out_dir))
                 if group.primary or step.kind in multihost.SPMD_KINDS else None)
    except Interrupted as e:
      self.finish(step, "interrupted", start, error=str(e))
      raise
    except Exception as e:  # a failed step is reported; the rest of the study continues
      self.finish(step, "failed", start, **failure(e))
    else:
      self.finish(step, "done", start, outputs=outputs)
    if group.count > 1:  # process 0's record is the step's: the others read it
      group.barrier(f"{step.id}: recorded")
      if not group.primary:
        self.manifest = read_json(self.path)
    return self.manifest["steps"][step.id]["status"] == "done"


def failure(e: BaseException) -> dict[str, Any]:
  """A failed step's manifest fields: the error and the end of its traceback."""
  tail = traceback.format_exception(e)
  return {"error": f"{type(e).__name__}: {e}",
          "traceback": "".join(tail).strip().splitlines()[-3:]}
