"""The smallest toy study with every kind of step (data, 2 models, 4 decodes, 4 judgements),
run once per session by the sequential executor: what the Ray and multi-process runs of the
same study must reproduce."""
import json
import os
import re
import subprocess
import sys

import pytest

from pinchjax import cli

import test_study_e2e

# The end-to-end test's tiny toy study, under its own name.
STUDY = test_study_e2e.STUDY.replace("Study.name = 'e2e'", "Study.name = 'scale'")
CELLS = [(m, l) for m in ("mono_en_s0", "mono_fi_s0") for l in ("en", "fi")]


def study_file(tmp_path) -> str:
  path = tmp_path / "study.gin"
  path.write_text(STUDY)
  return str(path)


def start_study(gin_file, results, *flags, log=None, **env) -> subprocess.Popen:
  """`pinchjax study` in a subprocess with one CPU device (as a user's study would have)."""
  env = dict(os.environ, XLA_FLAGS="", PYTHONPATH=cli.REPO_ROOT, **env)
  return subprocess.Popen([sys.executable, "-m", "pinchjax.cli", "study", str(gin_file),
                           "--results", str(results), *flags], cwd=cli.REPO_ROOT, env=env,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def manifest(results) -> dict:
  with open(os.path.join(results, "manifest.json")) as f:
    return json.load(f)


def report_text(results) -> str:
  """report.md without the sum of step wall times (which differs between runs)."""
  with open(os.path.join(results, "report", "report.md")) as f:
    return re.sub(r"; [\d.]+ s of step time", "", f.read())


def generations(results, model, lang) -> list[str]:
  """The generation lines of a cell, sorted (a multi-process run merges them by id)."""
  with open(os.path.join(results, "steps", "infer", model, lang, "generations.jsonl")) as f:
    return sorted(f)


def cell(results, model, lang) -> dict:
  with open(os.path.join(results, "steps", "judge", model, lang, "cell.json")) as f:
    return json.load(f)


@pytest.fixture(scope="session")
def sequential_study(tmp_path_factory) -> str:
  """The results directory of the study run by the sequential executor in one process."""
  tmp = tmp_path_factory.mktemp("sequential_study")
  proc = start_study(study_file(tmp), tmp / "results")
  out, _ = proc.communicate(timeout=900)
  assert proc.returncode == 0, out[-4000:]
  assert "11 steps ran, 0 reused, 0 failed, 0 skipped" in out
  return str(tmp / "results")
