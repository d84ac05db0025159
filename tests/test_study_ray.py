"""The Ray executor on a local Ray cluster of 2 CPUs: independent steps run at once, a failed
step is reported and its dependents skipped while the rest runs, a rerun resumes; and the toy
study's report equals the sequential executor's."""
import json
import os
import time

import pytest

from pinchjax import cli
from pinchjax.study import grid, ray_executor, runner
from study_scale_support import (CELLS, cell, generations, manifest, report_text,  # noqa: F401
                                 sequential_study, start_study, study_file)

ray = pytest.importorskip("ray")
TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def local_ray():
  # the workers import this module's executor by name, and pinchjax from this checkout
  path = os.pathsep.join([cli.REPO_ROOT, TESTS, os.environ.get("PYTHONPATH", "")])
  ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False,
           runtime_env={"env_vars": {"PYTHONPATH": path}})
  yield
  ray.shutdown()


def _grid():
  return grid.expand(grid.Study(name="t", dataset="toy", evalset="toy_eval",
                                experiments=("pinch",), pinch_values=(10,),
                                languages=("en", "fi")))


class Timed:
  """Writes its step's [start, end] and checks its inputs exist; fails on `fail`."""

  def __init__(self, fail=()):
    self.fail = set(fail)

  def __call__(self, step, inputs, out_dir):
    start = time.time()
    for files in inputs.values():
      for path in files.values():
        assert os.path.exists(path), path
    if step.id in self.fail:
      raise RuntimeError(f"boom in {step.id}")
    time.sleep(1.0 if step.kind == "train" else 0.1)
    with open(os.path.join(out_dir, "span.json"), "w") as f:
      json.dump([start, time.time()], f)
    return {"span": "span.json"}


def test_ray_runs_steps_concurrently_reports_failures_and_resumes(local_ray, tmp_path):
  g = _grid()
  fail = "train/mono_fi_s0"
  config = ray_executor.StudyExecutor(name="ray")
  seq_dir, ray_dir = str(tmp_path / "seq"), str(tmp_path / "ray")
  kinds = lambda fake: {"train": fake, "infer": fake, "judge": fake}
  seq = runner.Runner(g, seq_dir, kinds(Timed({fail})), log=lambda s: None).run()
  got = ray_executor.run(runner.Runner(g, ray_dir, kinds(Timed({fail})), log=lambda s: None),
                         config)
  assert got.failed == seq.failed == [fail]
  assert sorted(got.skipped) == sorted(seq.skipped) and len(seq.skipped) >= 3
  assert sorted(got.ran) == sorted(seq.ran) and len(seq.ran) >= 6
  m = manifest(ray_dir)
  assert m["steps"][fail]["error"] == f"RuntimeError: boom in {fail}"
  for step_id in seq.skipped:
    assert m["steps"][step_id]["error"] == f"dependency {fail} failed"
  assert {k: v["status"] for k, v in m["steps"].items()} == {
      k: v["status"] for k, v in manifest(seq_dir)["steps"].items()}

  # The two train steps that ran (1 s each) overlapped: 2 CPUs, one per train task.
  spans = []
  for step_id in got.ran:
    if step_id.startswith("train/"):
      with open(os.path.join(ray_dir, "steps", *step_id.split("/"), "span.json")) as f:
        spans.append(json.load(f))
  assert len(spans) == 2 and max(s[0] for s in spans) < min(s[1] for s in spans)

  # A rerun with the failure fixed runs exactly what had not finished.
  again = ray_executor.run(runner.Runner(g, ray_dir, kinds(Timed()), log=lambda s: None), config)
  assert sorted(again.ran) == sorted([fail] + seq.skipped) and not again.failed
  assert sorted(again.reused) == sorted(seq.ran)
  steps = manifest(ray_dir)["steps"]
  assert all(v["status"] == "done" for v in steps.values())
  assert steps[fail]["runs"] == 2 and steps[seq.ran[0]]["runs"] == 1


def test_bad_resources_name_the_field():
  with pytest.raises(ValueError, match=r"resources\['train'\]: unknown Ray options \['gpus'\]"):
    ray_executor.StudyExecutor(resources={"train": {"gpus": 1}})
  with pytest.raises(ValueError, match="unknown executor 'dask'"):
    ray_executor.StudyExecutor(name="dask")


def test_toy_study_on_ray_gives_the_sequential_report(sequential_study, tmp_path):
  results = tmp_path / "ray"
  proc = start_study(study_file(tmp_path), results, "--executor", "ray",
                     "--gin.StudyExecutor.ray_num_cpus=2")
  out, _ = proc.communicate(timeout=900)
  assert proc.returncode == 0, out[-4000:]
  assert "11 steps submitted to Ray" in out
  assert "11 steps ran, 0 reused, 0 failed, 0 skipped" in out
  assert report_text(results) == report_text(sequential_study)
  assert "| mono_en | 50.0 |" in report_text(results)
  for model, lang in CELLS:  # the outputs under the report are the same, byte for byte
    assert generations(results, model, lang) == generations(sequential_study, model, lang)
    assert cell(results, model, lang) == cell(sequential_study, model, lang)
  # the executor is in no step's config hash
  hashes = [{k: v["config_hash"] for k, v in manifest(r)["steps"].items()}
            for r in (results, sequential_study)]
  assert hashes[0] == hashes[1]


def test_accelerator_steps_get_a_fresh_worker_process():
  config = ray_executor.StudyExecutor(resources={"train": {"num_cpus": 8, "resources": {"TPU": 8}},
                                                 "infer": {"num_gpus": 1}})
  assert config.options("train") == {"num_cpus": 8, "resources": {"TPU": 8}}
  assert config.fresh_process("train") and config.fresh_process("infer")
  assert config.options("judge") == {"num_cpus": 1} and not config.fresh_process("judge")


def test_toy_demo_on_ray_gives_the_sequential_report(tmp_path):
  """`make demo`'s whole study (50 steps on the shipped toy base): 2 Ray workers reproduce the
  sequential executor's report, generations and verdict cells byte for byte."""
  demo = os.path.join(cli.REPO_ROOT, "gin", "studies", "toy_demo.gin")
  runs = {}
  for name, flags in (("sequential", ()),
                      ("ray", ("--executor", "ray", "--gin.StudyExecutor.ray_num_cpus=2"))):
    runs[name] = tmp_path / name
    proc = start_study(demo, runs[name], *flags)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    assert "50 steps ran, 0 reused, 0 failed, 0 skipped" in out
  seq, on_ray = (manifest(runs[n])["steps"] for n in ("sequential", "ray"))
  assert {k: v["config_hash"] for k, v in seq.items()} == {
      k: v["config_hash"] for k, v in on_ray.items()}
  assert report_text(runs["ray"]) == report_text(runs["sequential"])
  cells = [tuple(s.split("/")[1:]) for s in seq if s.startswith("infer/")]
  assert len(cells) == 21  # 7 models (3 mono, 2 pinch, 1 seen, the base) x 3 languages
  for model, lang in cells:
    assert generations(runs["ray"], model, lang) == generations(runs["sequential"], model, lang)
    assert cell(runs["ray"], model, lang) == cell(runs["sequential"], model, lang)
