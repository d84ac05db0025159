"""A 4-language subset study on the shipped toy step files: the Study's languages, budget and
study-level bindings reach every step, and the preflight names each problem (with a non-zero
exit) before anything runs."""
import os
import socket

import gin
import pytest

from pinchjax import cli
from pinchjax.data import canonical, registry, synthetic
from pinchjax.study import cli as study_cli
from pinchjax.study import grid, preflight, runner, step_gin
from scripted_openai_server import ScriptedServer

LANGS = ["en", "fi", "es", "ru"]
N = 40  # examples per language in the tuning set


def _study_text(data_dir, *, base="toy_base/checkpoint", judge=None, extra=""):
  judge = judge or "{'gin_files': ['gin/judges/toyworld.gin']}"
  return f"""
import pinchjax.study.grid
DATA_DIR = '{data_dir}'
Study.name = 'subset'
Study.dataset = 'tsub'
Study.evalset = 'tsubeval'
Study.languages = {LANGS!r}
Study.experiments = ['mono', 'pinch']
Study.pinch_values = [50]
Study.budget = 20
Study.base_checkpoint = '{base}'
Study.train = {{'gin_files': ['gin/studies/toy_tune.gin'], 'bindings': ['TRAIN_STEPS = 3']}}
Study.infer = {{'gin_files': ['gin/studies/toy_infer.gin']}}
Study.judge = {judge}
{extra}"""


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


@pytest.fixture
def data(tmp_path):
  root = tmp_path / "data"
  sets = synthetic.write_parallel_set(str(root), "tsub", N, LANGS)
  synthetic.write_parallel_set(str(root), "tsubeval", 6, LANGS, split="test")
  return {"root": root, "sets": sets}


def _dry_run(tmp_path, text, *flags):
  path = tmp_path / "study.gin"
  path.write_text(text)
  return cli.main(["study", str(path), "--dry-run", "--results", str(tmp_path / "r"), *flags])


def _preflight_lines(out):
  lines = out.splitlines()
  return lines[next(i for i, l in enumerate(lines) if l.startswith("preflight:")):]


def test_subset_registers_the_studys_mixtures_and_passes_preflight(tmp_path, data, capsys):
  assert _dry_run(tmp_path, _study_text(data["root"])) == 0
  # 6 models (4 mono, P=50, base) x 4 languages: 5 train + 24 infer + 24 judge steps.
  assert _preflight_lines(capsys.readouterr().out) == [
      "preflight: 53 steps to run, no problems found"]

  cli.parse_gin([str(tmp_path / "study.gin")], [])
  g = grid.expand(grid.Study(), grid.study_level_gin())
  step = next(s for s in g.steps if s.id == "train/pinch_p50_s0")
  step_gin.configure(step, {})
  done = {r.name: r for r in registry.register_configured()}
  assert "tsub_pinch_p50" in done["tsub"].mixtures
  assert "tsub_pinch_p10" not in done["tsub"].mixtures  # only the study's P values
  assert sorted(done["tsubeval"].tasks) == sorted(f"tsubeval_{l}" for l in LANGS)
  stats = registry.mixture_stats("tsub_pinch_p50")
  # Study.budget = 20: 10 English, 10 spread over the 4 study languages (English included).
  assert stats["total"] == 20 and set(stats["languages"]) == set(LANGS)
  assert sum(v for l, v in stats["languages"].items() if l != "en") in (7, 8)


def test_study_level_and_command_line_bindings_reach_every_step(tmp_path, data):
  path = tmp_path / "study.gin"
  path.write_text(_study_text(data["root"], extra="TOY_VOCAB = 'elsewhere.model'"))
  cli.parse_gin([str(path)], ["DATA_DIR = '/from/the/command/line'"])
  study = grid.Study()
  g = grid.expand(study, grid.study_level_gin())
  steps = {s.id: s for s in g.steps}
  step_gin.configure(steps["train/mono_fi_s0"], {})
  assert preflight._bound("register_configured.data_dir") == "/from/the/command/line"
  assert preflight._bound("register_configured.vocabulary") == "elsewhere.model"  # beat the file
  assert gin.query_parameter("register_dataset.languages") == LANGS
  assert gin.query_parameter("register_dataset.budget") == 20
  assert preflight._bound("train.num_steps") == 3  # the kind's own bindings still win
  step_gin.configure(steps["judge/mono_fi_s0/fi"], {})
  assert gin.query_parameter("%DATA_DIR") == "/from/the/command/line"
  # A data step's directory is the data of that study, whatever the study-level DATA_DIR.
  step_gin.configure(steps["infer/base/fi"], {grid.DATA: {"dir": "/built"}})
  assert preflight._bound("register_configured.data_dir") == "/built"

  # Study-level bindings are in every step's config hash; Study fields only in the steps
  # they change.
  def hashes(study_gin, **kw):
    s = grid.Study(name="h", dataset="tsub", evalset="tsubeval", languages=LANGS,
                   experiments=("mono", "pinch"), **kw)
    return runner.Runner(grid.expand(s, study_gin), str(tmp_path / "h"), {}).hashes
  a = hashes("DATA_DIR = 'a'\n", pinch_values=(50,))
  assert hashes("DATA_DIR = 'b'\n", pinch_values=(50,))["train/mono_en_s0"] != a[
      "train/mono_en_s0"]
  changed = hashes("DATA_DIR = 'a'\n", pinch_values=(50,), budget=30)
  assert changed["train/mono_en_s0"] != a["train/mono_en_s0"]  # the budget changes the data


def test_registration_bound_outside_the_study_is_refused(tmp_path, data):
  path = tmp_path / "study.gin"
  path.write_text(_study_text(data["root"], extra="import pinchjax.data.registry\n"
                              "register_dataset.languages = ['en', 'fi']"))
  cli.parse_gin([str(path)], [])
  with pytest.raises(ValueError, match="the study binds register_dataset.languages, which the "
                     "Study sets"):
    grid.expand(grid.Study(), grid.study_level_gin())
  study = grid.Study(name="b", dataset="tsub", evalset="tsubeval", languages=LANGS,
                     train={"bindings": ["TRAIN_STEPS = 3", "register_dataset.budget = 10"]})
  with pytest.raises(ValueError, match=r"Study.train\['bindings'\] binds register_dataset.budget"):
    grid.expand(study)


def test_missing_data_dir_from_the_command_line(tmp_path, data, capsys):
  assert _dry_run(tmp_path, _study_text(data["root"]),
                  f"--gin.DATA_DIR='{tmp_path / 'absent'}'") == 1
  lines = _preflight_lines(capsys.readouterr().out)
  assert lines[0] == "preflight: 1 problem in the 53 steps to run"
  assert lines[1] == (f"PROBLEM data directory {tmp_path / 'absent'} does not exist [29 steps: "
                      "train/mono_en_s0, train/mono_fi_s0, train/mono_es_s0, ... (26 more)]")
  assert lines[2].startswith("  fix: create it, or bind DATA_DIR to the data root")


def test_missing_language_file(tmp_path, data, capsys):
  ru = registry.layout_path(str(data["root"]), "tsub", "train", "ru")
  os.remove(ru)
  es = registry.layout_path(str(data["root"]), "tsubeval", "test", "es")
  os.remove(es)
  assert _dry_run(tmp_path, _study_text(data["root"])) == 1
  lines = _preflight_lines(capsys.readouterr().out)
  assert lines[1] == (f"PROBLEM tsub needs missing languages ru (no {ru}) [2 steps: "
                      "train/mono_ru_s0, train/pinch_p50_s0]")
  assert lines[2] == "  fix: write those files, or drop ru from Study.languages"
  # Every model is scored in Spanish: 6 infer steps (4 mono, P=50, base).
  assert lines[3] == (f"PROBLEM tsubeval: no {es} [6 steps: infer/mono_en_s0/es, "
                      "infer/mono_fi_s0/es, infer/mono_es_s0/es, ... (3 more)]")
  assert lines[4] == "  fix: write it, or drop 'es' from Study.languages"
  assert len(lines) == 5


def test_mismatched_ids(tmp_path, data, capsys):
  fi = registry.layout_path(str(data["root"]), "tsub", "train", "fi")
  canonical.write_jsonl(fi, data["sets"]["fi"][:-1])
  assert _dry_run(tmp_path, _study_text(data["root"])) == 1
  lines = _preflight_lines(capsys.readouterr().out)
  assert lines[0] == "preflight: 1 problem in the 53 steps to run"
  assert lines[1].startswith(f"PROBLEM tsub: {fi}: field 'id' not aligned with ")
  assert "1 ids missing (e.g. ['ex00039'])" in lines[1] and "[5 steps: " in lines[1]
  assert lines[2].startswith(f"  fix: fix the files under {data['root'] / 'tsub'} (canonical")


def test_model_dir_without_config(tmp_path, data, capsys):
  model = tmp_path / "model"
  model.mkdir()
  (model / "tokenizer.json").write_text("{}")
  assert _dry_run(tmp_path, _study_text(data["root"], base=str(model))) == 1
  lines = _preflight_lines(capsys.readouterr().out)
  assert lines[1] == (f"PROBLEM model directory {model} (Study.base_checkpoint) has no "
                      "config.json (Hugging Face) or model_config.json (pinchjax checkpoint) "
                      "[4 steps: infer/base/en, infer/base/fi, infer/base/es, ... (1 more)]")
  assert lines[2].startswith("  fix: point Study.base_checkpoint at a complete model directory")
  (model / "config.json").write_text("{}")
  assert preflight.model_dir_problem(str(model), "x", needs_tokenizer=True) == (
      f"model directory {model} (x) has no *.safetensors weights",
      "point x at a complete model directory (a Hugging Face download, or `pinchjax convert` "
      "output)")


def _judge(url, model):
  return ("{'gin_files': ['gin/judges/openai_compatible.gin'], 'bindings': ["
          f"\"judge/ClientConfig.base_url = '{url}'\", "
          f"\"judge/ClientConfig.model = '{model}'\"]}}")


def test_judge_server_down(tmp_path, data, capsys):
  with socket.socket() as s:  # a port nothing listens on
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  url = f"http://127.0.0.1:{port}/v1"
  assert _dry_run(tmp_path, _study_text(data["root"], judge=_judge(url, "m"))) == 1
  lines = _preflight_lines(capsys.readouterr().out)
  assert lines[0] == "preflight: 1 problem in the 53 steps to run"
  assert lines[1].startswith(f"PROBLEM judge server {url}/models does not answer (ConnectError")
  assert lines[1].endswith("[24 steps: judge/mono_en_s0/en, judge/mono_en_s0/fi, "
                           "judge/mono_en_s0/es, ... (21 more)]")


def test_judge_server_without_the_model(tmp_path, data, capsys):
  with ScriptedServer(tmp_path / "server", []) as server:
    text = _study_text(data["root"], judge=_judge(server.base_url, "Qwen/Qwen2.5-72B-Instruct"))
    assert _dry_run(tmp_path, text) == 1
    lines = _preflight_lines(capsys.readouterr().out)
    assert lines[1].startswith(f"PROBLEM judge server {server.base_url}/models does not list "
                               "model 'Qwen/Qwen2.5-72B-Instruct' (it lists 'scripted') [24 steps")
    assert lines[2] == ("  fix: serve 'Qwen/Qwen2.5-72B-Instruct' there, or set "
                        "judge/ClientConfig.model to a listed one")
    assert _dry_run(tmp_path, _study_text(data["root"], judge=_judge(server.base_url,
                                                                      "scripted"))) == 0
    assert [r["path"] for r in server.requests()] == []  # /v1/models is a GET: never a chat


def test_a_real_run_stops_before_any_step(tmp_path, data, capsys):
  path = tmp_path / "study.gin"
  path.write_text(_study_text(data["root"]))
  results = tmp_path / "r"
  assert cli.main(["study", str(path), "--results", str(results),
                   f"--gin.DATA_DIR='{tmp_path / 'absent'}'"]) == 1
  out = capsys.readouterr().out
  assert "does not exist" in out and out.rstrip().endswith(
      "nothing ran: fix the problems above (`--dry-run` checks again)")
  assert not results.exists()


def test_results_default_outside_the_checkout(tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  monkeypatch.delenv(study_cli.RESULTS_ENV, raising=False)
  assert study_cli.default_results("s") == str(tmp_path / "home" / "pinchjax_results" / "s")
  monkeypatch.setenv(study_cli.RESULTS_ENV, str(tmp_path / "all"))
  assert study_cli.default_results("s") == str(tmp_path / "all" / "s")
  study = tmp_path / "study.gin"
  study.write_text("Study.name = 'tiny'\nStudy.dataset = 'toy'\nStudy.evalset = 'toyeval'\n"
                   "Study.languages = ['en']\nStudy.experiments = ['mono']\n")
  cli.main(["study", str(study), "--dry-run"])
  summary = [l for l in capsys.readouterr().out.splitlines() if " steps (" in l]
  assert summary == [f"3 steps (1 models, 1 scored cells): 3 to run, 0 done in "
                     f"{tmp_path / 'all' / 'tiny'}"]


def test_shipped_subset_study_registers_every_mixture_it_names(tmp_path, capsys, monkeypatch):
  synthetic.write_parallel_set(str(tmp_path / "d"), "paper", N, LANGS)
  synthetic.write_parallel_set(str(tmp_path / "d"), "alpacafarm", 6, LANGS, split="test")
  monkeypatch.chdir(tmp_path)  # no models/ here
  tokenizer = os.path.join(cli.REPO_ROOT, "toy_base", "vocab.model")
  rc = cli.main(["study", "gin/studies/paper_subset.gin", "--dry-run", "--results",
                 str(tmp_path / "r"), f"--gin.DATA_DIR='{tmp_path / 'd'}'",
                 f"--gin.TOKENIZER='{tokenizer}'", "--gin.Study.budget=20"])
  out = capsys.readouterr().out.splitlines()
  # 18 tuned models (4 mono, 5 pinch, 2 more seen, 5 num_langs, 2 pairs) and the base;
  # 57 cells (16 + 20 + 8 + 5 on Spanish + 2 pairs x 2 others + 4 of the base).
  assert f"132 steps (19 models, 57 scored cells): 132 to run, 0 done in {tmp_path / 'r'}" in out
  # Every mixture and task the grid names is registered: only the model and judge are missing.
  assert [l.rsplit(" [", 1)[0] for l in out if l.startswith("PROBLEM")] == [
      "PROBLEM model directory models/gemma-3-1b-pt (train.init_hf_dir) does not exist",
      "PROBLEM model directory models/gemma-3-1b-pt (Study.base_checkpoint) does not exist",
      "PROBLEM judge server http://127.0.0.1:8000/v1/models does not answer (ConnectError: "
      "[Errno 111] Connection refused)"]
  assert rc == 1


def test_data_of_a_data_step_is_checked_once_it_has_run(tmp_path):
  study = grid.Study(name="d", dataset="tsub", evalset="tsubeval", languages=LANGS,
                     experiments=("mono",), data={"fn": "not.run.here"},
                     train={"gin_files": ["gin/studies/toy_tune.gin"]},
                     infer={"gin_files": ["gin/studies/toy_infer.gin"]},
                     judge={"gin_files": ["gin/judges/toyworld.gin"]})
  run = runner.Runner(grid.expand(study), str(tmp_path / "r"), {})
  assert preflight.check(run) == []  # nothing written yet: only models and judges are checked
  built = run.step_dir(grid.DATA)
  synthetic.write_parallel_set(built, "tsub", N, ["en", "fi", "es"])
  synthetic.write_parallel_set(built, "tsubeval", 6, LANGS, split="test")
  run.manifest["steps"][grid.DATA] = {"status": "done", "config_hash": run.hashes[grid.DATA],
                                      "outputs": {"dir": "."}}
  ru = registry.layout_path(os.path.join(built, "."), "tsub", "train", "ru")
  assert [(p.problem, p.steps) for p in preflight.check(run)] == [
      (f"tsub needs missing languages ru (no {ru})", ["train/mono_ru_s0"])]


def test_dry_registration_names_what_registration_registers(tmp_path):
  synthetic.write_parallel_set(str(tmp_path), "tdry", N, ["en", "fi", "es"])
  kw = {"languages": LANGS, "seen": ["en", "fi", "ru"], "budget": 20, "percents": [0, 50]}
  dry = registry.register_dataset("tdry", str(tmp_path), None, "toy", dry_run=True, **kw)
  assert not any(n.startswith("tdry") for n in registry.registered_names())  # nothing added
  real = registry.register_dataset("tdry", str(tmp_path),
                                   os.path.join(cli.REPO_ROOT, "toy_base", "vocab.model"), "toy",
                                   **kw)
  assert sorted(dry.tasks) == sorted(real.tasks) and dry.mixtures == real.mixtures
  assert dry.not_registered == real.not_registered
  # ru has no file: every mixture over it is left out, with why; the rest is registered.
  assert dry.not_registered["tdry_pinch_p50"] == "needs missing languages ru"
  assert {"tdry_pinch_p0", "tdry_mono_es", "tdry_k1_o0"} <= set(dry.mixtures)
  assert dry.not_registered["tdry_k3_o1"] == "needs missing languages ru"
