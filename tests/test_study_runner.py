"""The runner on fake executors: manifest, reuse, resume after a kill, failures, hashes."""
import json
import os

import pytest

from pinchjax.study import grid, runner


def _grid(**kw):
  kw.setdefault("experiments", ("pinch",))
  kw.setdefault("pinch_values", (10,))
  kw.setdefault("languages", ("en", "fi"))
  return grid.expand(grid.Study(name="t", dataset="toy", evalset="toy_eval", **kw))


class Fake:
  """Executors that record calls, write one file each and can fail or 'kill' on a step."""

  def __init__(self, fail=(), kill_at=None, preempt_at=None):
    self.calls, self.fail, self.kill_at, self.preempt_at = [], set(fail), kill_at, preempt_at

  def __call__(self, step, inputs, out_dir):
    self.calls.append(step.id)
    if step.id == self.kill_at:
      raise KeyboardInterrupt  # what a kill looks like from inside: no status is written
    if step.id == self.preempt_at:
      raise runner.Interrupted("preempted at step 7, checkpoint saved")
    if step.id in self.fail:
      raise RuntimeError(f"boom in {step.id}")
    for files in inputs.values():
      for path in files.values():
        assert os.path.exists(path), path
    with open(os.path.join(out_dir, "out.txt"), "w") as f:
      f.write(step.id)
    return {"out": "out.txt"}

  def executors(self):
    return {"train": self, "infer": self, "judge": self}


def _manifest(d):
  with open(os.path.join(d, runner.MANIFEST)) as f:
    return json.load(f)


def test_runs_everything_then_reuses_it(tmp_path):
  g = _grid()
  fake = Fake()
  summary = runner.Runner(g, str(tmp_path), fake.executors(), log=lambda s: None).run()
  assert summary.ok and summary.ran == [s.id for s in g.steps] == fake.calls
  m = _manifest(tmp_path)
  entry = m["steps"]["judge/pinch_p10_s0/fi"]
  assert entry["status"] == "done" and entry["outputs"] == {"out": "out.txt"}
  assert entry["deps"] == ["infer/pinch_p10_s0/fi", "infer/mono_fi_s0/fi"]
  assert entry["seconds"] >= 0 and entry["runs"] == 1 and len(entry["config_hash"]) == 16
  assert (tmp_path / "steps/train/mono_fi_s0/out.txt").read_text() == "train/mono_fi_s0"
  assert json.loads((tmp_path / runner.STUDY).read_text())["models"]["pinch_p10_s0"][
      "tags"] == {"pinch": 10}

  again = Fake()
  summary = runner.Runner(g, str(tmp_path), again.executors(), log=lambda s: None).run()
  assert again.calls == [] and summary.ran == [] and len(summary.reused) == len(g.steps)
  m = _manifest(tmp_path)
  assert [len(i["ran"]) for i in m["invocations"]] == [len(g.steps), 0]


def test_killed_study_resumes_without_redoing_finished_steps(tmp_path):
  g = _grid()
  ids = [s.id for s in g.steps]
  killed = ids[4]
  with pytest.raises(KeyboardInterrupt):
    runner.Runner(g, str(tmp_path), Fake(kill_at=killed).executors(), log=lambda s: None).run()
  m = _manifest(tmp_path)
  assert m["steps"][killed]["status"] == "running"
  assert [i for i in ids if m["steps"].get(i, {}).get("status") == "done"] == ids[:4]

  rerun = Fake()
  summary = runner.Runner(g, str(tmp_path), rerun.executors(), log=lambda s: None).run()
  assert rerun.calls == ids[4:] and summary.reused == ids[:4] and summary.ok
  m = _manifest(tmp_path)
  assert m["steps"][killed]["runs"] == 2 and m["steps"][ids[0]]["runs"] == 1
  assert m["invocations"][-1]["ran"] == ids[4:]


def test_preempted_step_stops_the_study_and_resumes(tmp_path):
  g = _grid()
  ids = [s.id for s in g.steps]
  with pytest.raises(runner.Interrupted):
    runner.Runner(g, str(tmp_path), Fake(preempt_at=ids[1]).executors(), log=lambda s: None).run()
  m = _manifest(tmp_path)
  assert m["steps"][ids[1]]["status"] == "interrupted"
  assert m["steps"][ids[1]]["error"] == "preempted at step 7, checkpoint saved"
  assert ids[2] not in m["steps"]  # nothing ran after the preemption
  rerun = Fake()
  assert runner.Runner(g, str(tmp_path), rerun.executors(), log=lambda s: None).run().ok
  assert rerun.calls == ids[1:]


def test_failed_step_skips_dependents_only(tmp_path):
  g = _grid()
  fake = Fake(fail={"train/mono_fi_s0"})
  summary = runner.Runner(g, str(tmp_path), fake.executors(), log=lambda s: None).run()
  assert summary.failed == ["train/mono_fi_s0"]
  # fi baseline gone: its generations and every fi judgement are skipped.
  assert sorted(summary.skipped) == ["infer/mono_fi_s0/fi", "judge/mono_fi_s0/fi",
                                     "judge/pinch_p10_s0/fi"]
  assert "judge/pinch_p10_s0/en" in summary.ran and "infer/pinch_p10_s0/fi" in summary.ran
  m = _manifest(tmp_path)
  assert m["steps"]["train/mono_fi_s0"]["error"] == "RuntimeError: boom in train/mono_fi_s0"
  assert m["steps"]["judge/pinch_p10_s0/fi"]["status"] == "skipped"
  assert m["steps"]["judge/pinch_p10_s0/fi"]["error"] == "dependency train/mono_fi_s0 failed"
  assert not summary.ok

  fixed = Fake()
  summary = runner.Runner(g, str(tmp_path), fixed.executors(), log=lambda s: None).run()
  assert sorted(fixed.calls) == sorted(["train/mono_fi_s0", "infer/mono_fi_s0/fi",
                                        "judge/mono_fi_s0/fi", "judge/pinch_p10_s0/fi"])
  assert summary.ok


def test_changed_config_reruns_the_step_and_downstream_in_a_clean_dir(tmp_path):
  gin_file = tmp_path / "tune.gin"
  included = tmp_path / "model.gin"
  gin_file.write_text(f"include '{included}'\n")
  included.write_text("train.num_steps = 10\n")
  g = _grid(train={"gin_files": [str(gin_file)]}, languages=("en",), pinch_values=(0,))
  results = tmp_path / "results"
  runner.Runner(g, str(results), Fake().executors(), log=lambda s: None).run()
  stale = results / "steps/train/pinch_p0_s0/stale.txt"
  stale.write_text("from the old config")
  assert runner.Runner(g, str(results), Fake().executors(), log=lambda s: None).plan() == [
      (s, "reuse") for s in g.steps]

  included.write_text("train.num_steps = 20\n")  # same step parameters, an included file changed
  fake = Fake()
  summary = runner.Runner(g, str(results), fake.executors(), log=lambda s: None).run()
  assert fake.calls == [s.id for s in g.steps]  # every step depends on a train step here
  assert not stale.exists()
  assert summary.ok

