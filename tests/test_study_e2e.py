"""A tiny real study end to end (toy world, shipped toy base, every stage real), killed
midway and rerun: the rerun completes it without redoing finished steps."""
import json
import os
import signal
import subprocess
import sys
import time

from pinchjax import cli

STUDY = """
include 'gin/studies/toy_demo.gin'
Study.name = 'e2e'
Study.languages = ['en', 'fi']
Study.experiments = ['mono']
Study.base_checkpoint = None
Study.data = {'fn': 'pinchjax.data.toyworld.build_toyworld',
              'kwargs': {'seed': 0, 'sentences_per_language': 1000, 'list_items': 20}}
Study.train = {'gin_files': ['gin/studies/toy_tune.gin'],
               'bindings': ['TRAIN_STEPS = 2', 'BATCH_SIZE = 8', 'make_schedule.warmup_steps = 1']}
Study.infer = {'gin_files': ['gin/studies/toy_infer.gin'],
               'bindings': ['DecodeConfig.max_new_tokens = 6']}
"""


def _study(gin_file, results):
  env = dict(os.environ, XLA_FLAGS="")  # one CPU device, as a user's study would have
  return subprocess.Popen([sys.executable, "-m", "pinchjax.cli", "study", str(gin_file),
                           "--results", str(results)], cwd=cli.REPO_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _manifest(results):
  with open(os.path.join(results, "manifest.json")) as f:
    return json.load(f)


def test_tiny_study_survives_a_kill(tmp_path):
  gin_file, results = tmp_path / "e2e.gin", tmp_path / "results"
  gin_file.write_text(STUDY)
  first = _study(gin_file, results)
  deadline = time.time() + 240
  while time.time() < deadline:  # kill once the first model is trained
    if (results / "manifest.json").exists():
      entry = _manifest(results)["steps"].get("train/mono_en_s0", {})
      if entry.get("status") == "done":
        break
    assert first.poll() is None, first.stdout.read()
    time.sleep(0.5)
  first.send_signal(signal.SIGKILL)
  first.wait()
  before = _manifest(results)["steps"]
  done_before = {k for k, v in before.items() if v["status"] == "done"}
  assert {"data", "train/mono_en_s0"} <= done_before
  assert "judge/mono_fi_s0/fi" not in done_before

  second = _study(gin_file, results)
  out, _ = second.communicate(timeout=300)
  assert second.returncode == 0, out
  m = _manifest(results)
  steps = m["steps"]
  assert len(steps) == 1 + 2 + 4 + 4 and all(v["status"] == "done" for v in steps.values())
  ran = set(m["invocations"][-1]["ran"])
  assert ran == set(steps) - done_before  # nothing finished was redone
  assert all(steps[k]["runs"] == 1 for k in done_before)
  assert f"{len(ran)} steps ran, {len(done_before)} reused, 0 failed" in out
  assert f"report: {results}/report/report.md" in out

  report = (results / "report" / "report.md").read_text()
  cells = {}
  for model in ("mono_en_s0", "mono_fi_s0"):
    for lang in ("en", "fi"):
      with open(results / "steps" / "judge" / model / lang / "cell.json") as f:
        cells[model, lang] = json.load(f)
  assert len(cells["mono_en_s0", "fi"]["items"]) > 100  # every eval item of the small world
  # The diagonal is a model judged against itself: every item a tie.
  assert set(cells["mono_fi_s0", "fi"]["items"].values()) == {0.5}
  items = cells["mono_en_s0", "fi"]["items"]
  assert f"| mono_en | 50.0 | {100 * sum(items.values()) / len(items):.1f} |" in report
