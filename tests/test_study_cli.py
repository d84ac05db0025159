"""`pinchjax study --dry-run` and `pinchjax report` through the real entry point."""
import gin
import pytest

import test_study_report
from pinchjax import cli

STUDY = """
Study.name = 'cli_test'
Study.dataset = 'toy'
Study.evalset = 'toy_eval'
Study.languages = ['en', 'fi', 'cs']
Study.experiments = ['mono', 'pinch']
Study.pinch_values = [0, 10]
"""


@pytest.fixture(autouse=True)
def _clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_dry_run_lists_steps_and_overrides_win(tmp_path, capsys):
  path = tmp_path / "s.gin"
  path.write_text(STUDY)
  rc = cli.main(["study", str(path), "--dry-run", "--results", str(tmp_path / "r"),
                 "--gin.Study.pinch_values=[10]"])
  out = capsys.readouterr().out.splitlines()
  assert "run    train/mono_en_s0" in out and "run    judge/pinch_p10_s0/cs" in out
  assert not any("pinch_p0" in line for line in out)  # the override replaced [0, 10]
  # 4 models trained; (3 mono x 3 + 1 pinch x 3) cells, each inferred and judged.
  assert f"{4 + 2 * 12} steps (4 models, 12 scored cells): 28 to run, 0 done in " \
         f"{tmp_path / 'r'}" in out
  # The study binds no data: the preflight says so for the 16 train and infer steps.
  steps = "[16 steps: train/mono_en_s0, train/mono_fi_s0, train/mono_cs_s0, ... (13 more)]"
  assert [l for l in out if l.startswith(("preflight", "PROBLEM"))] == [
      "preflight: 2 problems in the 28 steps to run",
      f"PROBLEM no tokenizer is bound (register_configured.vocabulary) {steps}",
      f"PROBLEM no data directory is bound (register_configured.data_dir) {steps}"]
  assert rc == 1
  assert not (tmp_path / "r").exists()


def test_report_command(tmp_path, capsys):
  test_study_report.build_fixture(str(tmp_path))
  assert cli.main(["report", str(tmp_path)]) == 0
  path = capsys.readouterr().out.strip()
  assert path == str(tmp_path / "report" / "report.md")
  assert "| mono_fi | 35.0 | 50.0 | 25.0 | 15.0 |" in open(path).read()
  with pytest.raises(SystemExit):
    cli.main(["report"])  # the results directory is required
  capsys.readouterr()
  assert cli.main(["report", str(tmp_path / "missing")]) == 1  # one line, no traceback
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "study.json" in err and err.count("\n") == 1


@pytest.mark.parametrize("name, steps, models, cells, problems", [
    # data, 3 mono, P=10, P=100, seen P=10, base; the data step's data is checked once built.
    ("toy_demo", 2 + 6 + 2 * 21, 7, 21, []),  # data and diagnose/base, then the models
    ("toy_full", 2 + 57 + 2 * 588, 58, 588, []),
    # Here the paper's data, model and judge server are all missing.
    ("paper", 57 + 2 * 588, 58, 588, [
        "tokenizer models/gemma-3-1b-pt/tokenizer.json does not exist [645 steps",
        "data directory data does not exist [645 steps",
        "model directory models/gemma-3-1b-pt (train.init_hf_dir) does not exist [57 steps",
        "model directory models/gemma-3-1b-pt (Study.base_checkpoint) does not exist [12 steps",
        "judge server http://127.0.0.1:8000/v1/models does not answer"]),
])
def test_shipped_studies_expand(name, steps, models, cells, problems, tmp_path, capsys,
                                monkeypatch):
  # The toy studies run from the repository (toy_base/); the paper's from an empty directory,
  # where a user's data/ and models/ would be.
  monkeypatch.chdir(tmp_path if name == "paper" else cli.REPO_ROOT)
  rc = cli.main(["study", f"gin/studies/{name}.gin", "--dry-run", "--results", str(tmp_path)])
  out = capsys.readouterr().out.splitlines()
  assert f"{steps} steps ({models} models, {cells} scored cells): {steps} to run, 0 done in " \
         f"{tmp_path}" in out
  found = [l[len("PROBLEM "):] for l in out if l.startswith("PROBLEM ")]
  assert len(found) == len(problems) and all(f.startswith(p) for f, p in zip(found, problems))
  assert rc == (1 if problems else 0)
