"""A run's checkpoints directory carries its vocabulary and chat template: `infer`, `serve`
and `load_generator` need no vocabulary flag; older checkpoints work with the gin flag, and
without either the command fails with one line that says what to pass."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import gin
import pytest

from pinchjax.data import vocab as vocab_lib
from pinchjax.infer import loading, server_cli
from pinchjax.checkpoints import metadata
from test_train_support import REPO, subprocess_env, tiny_data, train_in_process  # noqa: F401


@pytest.fixture(scope="module")
def run_checkpoints(tiny_data, tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("runs") / "p100run")
  train_in_process(tiny_data, model_dir, 2)
  return os.path.join(model_dir, "checkpoints")


def _pinchjax(*args, timeout=240, **kwargs):
  env = subprocess_env(devices=1)
  return subprocess.run([sys.executable, "-m", "pinchjax.cli", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=timeout, **kwargs)


def test_run_saves_vocabulary_and_template(run_checkpoints, tiny_data):
  with open(os.path.join(run_checkpoints, metadata.VOCABULARY), encoding="utf-8") as f:
    record = json.load(f)
  assert record == {"extra_ids": 0, "chat_template": "toy", "vocabulary": "vocab.model"}
  vocab, template = metadata.load_tokenization(run_checkpoints)
  assert vocab.sp_model == vocab_lib.get_vocabulary(tiny_data["vocab"]).sp_model
  assert template == "toy"
  gin.clear_config()  # nothing bound: the checkpoint alone
  generator = loading.load_generator(run_checkpoints)
  assert generator.template.name == "toy"
  assert generator.encode("<user> next one <model>") == [0] + vocab.encode(
      "<user> next one <model>")


def test_infer_needs_no_vocabulary_flag(run_checkpoints, tmp_path):
  instructions = tmp_path / "in.jsonl"
  instructions.write_text("".join(json.dumps(
      {"id": f"q{i}", "lang": "en", "instruction": f"next {w}", "response": "",
       "source": "test"}) + "\n" for i, w in enumerate(["one two", "five six seven"])))
  out = tmp_path / "gen.jsonl"
  done = _pinchjax("infer", "--checkpoint", run_checkpoints, "--input", str(instructions),
                   "--out", str(out), "--gin.DecodeConfig.max_new_tokens=4")
  assert done.returncode == 0, done.stderr[-2000:]
  rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
  assert [r["id"] for r in sorted(rows, key=lambda r: r["id"])] == ["q0", "q1"]
  assert {r["run"] for r in rows} == {"p100run"}


def test_serve_names_the_model_after_the_run(run_checkpoints):
  proc = subprocess.Popen([sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint",
                           run_checkpoints, "--port", "0", "--no-warmup"], cwd=REPO,
                          env=subprocess_env(devices=1), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
  try:
    line = proc.stdout.readline()
  finally:
    proc.terminate()
    proc.wait(timeout=30)
  assert re.match(r"serving p100run on http://127\.0\.0\.1:\d+$", line.strip()), line


def test_old_layout_takes_the_gin_flag_or_fails_in_one_line(run_checkpoints, tiny_data,
                                                             tmp_path):
  old = tmp_path / "old"
  shutil.copytree(run_checkpoints, old)
  os.remove(old / metadata.VOCABULARY)
  os.remove(old / metadata.SENTENCEPIECE_FILE)
  assert metadata.load_tokenization(str(old)) is None
  gin.clear_config()
  try:
    gin.bind_parameter("get_vocabulary.path", tiny_data["vocab"])
    generator = loading.load_generator(str(old))
  finally:
    gin.clear_config()
  assert generator.vocab.sp_model == vocab_lib.get_vocabulary(tiny_data["vocab"]).sp_model
  assert generator.template.name == "toy"  # the model family's

  failed = _pinchjax("serve", "--checkpoint", str(old), "--port", "0")
  assert failed.returncode == 1
  assert "Traceback" not in failed.stderr
  # One line names the problem and the flag (uvicorn logs its shutdown after it).
  lines = [l for l in failed.stderr.splitlines() if l.startswith(f"error: {old} holds no vocab")]
  assert len(lines) == 1 and "--gin.get_vocabulary.path=" in lines[0]

  parser = argparse.ArgumentParser()
  server_cli.register(parser)
  assert "--gin.get_vocabulary.path" in " ".join(parser.format_help().split())
