"""The real path in miniature, command for command as README's "Try the real path on a CPU":
a tiny random Gemma 3 tuned through gin/studies/paper.gin on the paper's data layouts (LIMA,
oasst1, a parallel set, an AlpacaEval-style eval set) in 3 languages, judged by a tiny random
Qwen 2.5 behind `pinchjax serve`. A random judge writes garbage: every off-diagonal judge step
must be flagged, no finding may get a verdict from it, and `pinchjax study` must exit 1.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import urllib.request

import gin
import pytest

import real_path_fixtures as fx
from chat_template_fixtures import GEMMA3
from pinchjax import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The one override of gin/studies/paper.gin (README shows it): 3 languages, mono + P=100,
# budgets for seconds. {root}: the fixture directory; {judge}: the judge server's URL.
STUDY_GIN = """\
include 'gin/studies/paper.gin'

DATA_DIR = '{root}/data'
MODEL_DIR_HF = '{root}/models/gemma-3-tiny'
TOKENIZER = '{root}/models/gemma-3-tiny/tokenizer.json'

Study.name = 'paper_tiny'
Study.languages = ['en', 'es', 'ru']
Study.experiments = ['mono', 'pinch']
Study.pinch_values = [100]
Study.budget = 12
Study.base_checkpoint = None
Study.train = {{'gin_files': ['gin/studies/paper_tune.gin'],
               'bindings': ['TRAIN_STEPS = 4', 'BATCH_SIZE = 4', 'SEQUENCE_LENGTH = 128',
                            'LEARNING_RATE = 0.01', 'make_schedule.warmup_steps = 1',
                            'train.checkpoint_every = 4', 'train.log_every = 1']}}
Study.infer = {{'gin_files': ['gin/studies/paper_infer.gin'],
               'bindings': ['infer.batch_size = 4', 'DecodeConfig.max_new_tokens = 16']}}
Study.judge = {{'gin_files': ['gin/studies/paper_judge.gin'],
               'bindings': ["judge/ClientConfig.base_url = '{judge}/v1'",
                            "judge/ClientConfig.model = 'qwen2.5-tiny'",
                            'judge/ClientConfig.max_tokens = 16',
                            'judge/ClientConfig.max_concurrency = 4']}}
"""
MODELS = ("mono_en", "mono_es", "mono_ru", "pinch_p100")
OFF_DIAGONAL = sorted(f"judge/{m}_s0/{l}" for m in MODELS for l in fx.LANGS
                      if m != f"mono_{l}")


def _env() -> dict[str, str]:
  """A user's environment: this checkout's code, one XLA device (not the suite's 8)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
  return env


def _pinchjax(*argv: str) -> int:
  """`pinchjax ARGV` in this process (the same entry point; spares an interpreter start)."""
  gin.clear_config()
  try:
    return cli.main(list(argv))
  finally:
    gin.clear_config()


def _read_jsonl(path: str) -> list[dict]:
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def _wait_for_server(proc: subprocess.Popen, log_path: str) -> str:
  """The URL `pinchjax serve --port 0` prints once the model is loaded; then /health is ok."""
  if not select.select([proc.stdout], [], [], 600)[0]:
    pytest.fail("judge server printed nothing in 10 min")
  line = proc.stdout.readline()
  match = re.search(r"^serving qwen2\.5-tiny on (http://127\.0\.0\.1:\d+)$", line.strip())
  if not match:
    with open(log_path, encoding="utf-8") as f:
      pytest.fail(f"judge server did not start: {line!r}\n{f.read()[-3000:]}")
  with urllib.request.urlopen(f"{match.group(1)}/health", timeout=30) as r:
    assert json.load(r) == {"status": "ok"}
  return match.group(1)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
  """Models and raw data built, the judge served, the paper set built and the parallel and
  eval sets imported: {root, judge, data_rcs, study_gin}."""
  root = str(tmp_path_factory.mktemp("real"))
  assert fx.main(["build", root]) == 0
  log_path = os.path.join(root, "serve.log")
  log = open(log_path, "w", encoding="utf-8")  # a pipe could fill and stall the server
  proc = subprocess.Popen(
      [sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint",
       f"{root}/models/qwen2.5-tiny", "--port", "0", "--max-batch", "4", "--max-context",
       "1024", "--default-max-tokens", "16", "--no-warmup"],
      stdout=subprocess.PIPE, stderr=log, text=True, env=_env(), cwd=root)
  try:
    raw, data = f"{root}/raw", f"{root}/data"
    rcs = {"build-paper-set": _pinchjax(
        "data", "build-paper-set", "--lima", f"{raw}/lima/train.jsonl", "--oasst",
        f"{raw}/oasst1/2023-04-12_oasst_ready.messages.jsonl", "--n-lima", str(fx.N_LIMA),
        "--n-oasst", str(fx.N_OASST), f"{data}/paper/train/en.jsonl")}
    for lang in ("es", "ru"):
      assert fx.main(["translate", f"{data}/paper/train/en.jsonl", lang,
                      f"{raw}/translated/{lang}.jsonl"]) == 0
      rcs[f"import {lang}"] = _pinchjax(
          "data", "import", "--format", "canonical", "--lang", lang, "--align-with",
          f"{data}/paper/train/en.jsonl", f"{raw}/translated/{lang}.jsonl",
          f"{data}/paper/train/{lang}.jsonl")
    for lang in fx.LANGS:
      rcs[f"import eval {lang}"] = _pinchjax(
          "data", "import", "--format", "json", "--map",
          "instruction=instruction,response=output,source=dataset", "--lang", lang,
          f"{raw}/alpaca_eval/{lang}.json", f"{data}/alpacafarm/test/{lang}.jsonl")
    judge = _wait_for_server(proc, log_path)
    study_gin = os.path.join(root, "paper_tiny.gin")
    with open(study_gin, "w", encoding="utf-8") as f:
      f.write(STUDY_GIN.format(root=root, judge=judge))
    yield {"root": root, "judge": judge, "data_rcs": rcs, "study_gin": study_gin}
  finally:
    proc.terminate()
    assert proc.wait(timeout=60) == 0  # SIGTERM drains and exits 0
    log.close()


@pytest.fixture(scope="module")
def study_run(real):
  """`pinchjax study` for real, as a user runs it (its own process)."""
  start = time.monotonic()
  proc = subprocess.run(
      [sys.executable, "-m", "pinchjax.cli", "study", real["study_gin"], "--results",
       f"{real['root']}/results"], capture_output=True, text=True, env=_env(),
      cwd=real["root"], timeout=900)
  print(f"pinchjax study: {time.monotonic() - start:.0f} s")
  return proc


def test_paper_data_from_the_published_layouts(real):
  assert real["data_rcs"] == dict.fromkeys(real["data_rcs"], 0)
  data = f"{real['root']}/data"
  en = _read_jsonl(f"{data}/paper/train/en.jsonl")
  # The first N_LIMA LIMA rows, then the English oasst1 roots with their rank-0 reply: the
  # Spanish and the deleted prompt, worse replies and follow-up turns are not selected.
  assert [r["id"] for r in en[:fx.N_LIMA]] == [f"lima-{i}" for i in range(fx.N_LIMA)]
  assert [r["source"] for r in en] == (["lima/stackexchange", "lima/wikihow"] * 2
                                       + ["oasst"] * fx.N_OASST)
  assert [(r["instruction"], r["response"]) for r in en] == [i["en"] for i in fx.PARALLEL]
  for lang in ("es", "ru"):
    recs = _read_jsonl(f"{data}/paper/train/{lang}.jsonl")
    assert [r["id"] for r in recs] == [r["id"] for r in en]
    assert [r["instruction"] for r in recs] == [i[lang][0] for i in fx.PARALLEL]
  for lang in fx.LANGS:
    recs = _read_jsonl(f"{data}/alpacafarm/test/{lang}.jsonl")
    assert [(r["id"], r["lang"], r["instruction"]) for r in recs] == [
        (f"row-{n}", lang, i[lang][0]) for n, i in enumerate(fx.EVAL)]


def test_import_refuses_a_translation_in_the_wrong_language(real, capsys):
  # The language check reads the text: Russian texts imported as Spanish are refused.
  root = real["root"]
  rc = _pinchjax("data", "import", "--format", "json", "--map",
                 "id=id,instruction=instruction,response=response", "--lang", "es",
                 f"{root}/raw/translated/ru.jsonl", f"{root}/wrong/es.jsonl")
  err = capsys.readouterr().err
  assert rc == 1 and "imported as 'es' but its majority language is 'ru'" in err
  assert not os.path.exists(f"{root}/wrong/es.jsonl")


def test_dry_run_preflight(real, capsys):
  root = real["root"]
  assert _pinchjax("study", real["study_gin"], "--dry-run", "--results",
                   f"{root}/dry") == 0
  out = capsys.readouterr().out.splitlines()
  assert f"28 steps (4 models, 12 scored cells): 28 to run, 0 done in {root}/dry" in out
  assert "preflight: 28 steps to run, no problems found" in out
  # The same study over a data directory without its Russian tuning file fails the
  # preflight, naming the file and the steps that need it.
  shutil.copytree(f"{root}/data", f"{root}/broken")
  os.remove(f"{root}/broken/paper/train/ru.jsonl")
  assert _pinchjax("study", real["study_gin"], "--dry-run", "--results", f"{root}/dry",
                   f"--gin.DATA_DIR='{root}/broken'") == 1
  problems = [l for l in capsys.readouterr().out.splitlines() if l.startswith("PROBLEM")]
  assert len(problems) == 1, problems
  assert f"no {root}/broken/paper/train/ru.jsonl" in problems[0]
  assert "train/mono_ru_s0" in problems[0] and "train/pinch_p100_s0" in problems[0]


def test_study_flags_the_random_judge(real, study_run):
  root = real["root"]
  assert study_run.returncode == 1, study_run.stderr[-3000:]
  with open(f"{root}/results/manifest.json", encoding="utf-8") as f:
    manifest = json.load(f)
  statuses = {k: s["status"] for k, s in manifest["steps"].items()}
  assert len(statuses) == 28 and set(statuses.values()) == {"done"}
  for model in MODELS:
    # Tuning learns (4 steps at a high rate), and the checkpoint carries its tokenizer with
    # Gemma 3's own chat template (what infer and serve read from it).
    run = f"{root}/results/steps/train/{model}_s0"
    losses = [m["loss"] for m in _read_jsonl(f"{run}/metrics.jsonl") if "loss" in m]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.5, (model, losses)
    with open(f"{run}/checkpoints/tokenizer/tokenizer_config.json", encoding="utf-8") as f:
      assert json.load(f)["chat_template"] == GEMMA3
  # It exits 1 naming each judge step whose answers could not be read: the 9 off-diagonal
  # cells (a model judged against itself ties without a call).
  unreliable = re.findall(r"^UNRELIABLE (\S+): unreadable or failed judge output in 100\.0% "
                          r"of (\d+) judge calls", study_run.stdout + study_run.stderr, re.M)
  assert sorted(s for s, _ in unreliable) == OFF_DIAGONAL
  for step, calls in unreliable:
    verdicts = _read_jsonl(f"{root}/results/steps/{step}/verdicts.jsonl")
    asked = [v for v in verdicts if v["source"] == "judge"]
    # The judge server was asked and answered every call; none of it parsed.
    assert len(asked) == int(calls) > 0
    assert all(v["verdict"] is None and v["error"].startswith("parse") and v["raw"] is not None
               for v in asked)
  report = open(f"{root}/results/report/report.md", encoding="utf-8").read()
  health = report.split("## Judge health\n", 1)[1].split("\n## ", 1)[0]
  assert "12 judge steps, 3 reliable, 9 unreliable." in health
  flagged = re.findall(r"^\| `(judge/\S+)` \| \d+ \| 100\.0 \| .* \| \*\*no: unreadable", health,
                       re.M)
  assert sorted(flagged) == OFF_DIAGONAL
  # No headline finding takes a verdict from the judge: those that need its cells are not
  # measured, naming them; only language fidelity (py3langid, not the judge) has a verdict.
  findings = report.split("## Headline findings", 1)[1].split("\n## ", 1)[0]
  rows = [l.split(" | ") for l in findings.splitlines() if l.startswith("| ") and "---" not in l]
  verdict_of = {row[0][2:]: row[2].strip("*") for row in rows[1:]}
  blocked = {" ".join(c.split()[:3]): v for c, v in verdict_of.items()
             if "judge unreliable" in v}
  # Monolingual transfer needs the 6 off-diagonal mono cells; P=1 (P=100 standing in for the
  # smallest P > 0, against mono_en) the non-English cells of both; P=100 its 3 cells.
  assert blocked == {"Monolingual tuning transfers": "not measured: judge unreliable in 6 cells",
                     "P=1 (about 40": "not measured: judge unreliable in 4 cells",
                     "At P=100 the": "not measured: judge unreliable in 3 cells"}
  others = [v for c, v in verdict_of.items() if "judge unreliable" not in v
            and not c.startswith("Models answer")]  # fidelity: py3langid's, not the judge's
  assert others == ["not measured"] * 2  # the number of languages, the pretraining share
  assert "| mono_en | 50.0 | unreliable | unreliable |" in report
