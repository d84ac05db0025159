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
  assert rc == 0
  assert "run    train/mono_en_s0" in out and "run    judge/pinch_p10_s0/cs" in out
  assert not any("pinch_p0" in line for line in out)  # the override replaced [0, 10]
  # 4 models trained; (3 mono x 3 + 1 pinch x 3) cells, each inferred and judged.
  assert out[-1] == (f"{4 + 2 * 12} steps (4 models, 12 scored cells): 28 to run, 0 done in "
                     f"{tmp_path / 'r'}")
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


@pytest.mark.parametrize("name, steps, models, cells", [
    ("toy_demo", 1 + 6 + 2 * 21, 7, 21),  # data, 3 mono, P=10, P=100, seen P=10, base
    ("toy_full", 1 + 57 + 2 * 588, 58, 588),
    ("paper", 57 + 2 * 588, 58, 588),
])
def test_shipped_studies_expand(name, steps, models, cells, tmp_path, capsys):
  assert cli.main(["study", f"gin/studies/{name}.gin", "--dry-run",
                   "--results", str(tmp_path)]) == 0
  assert capsys.readouterr().out.splitlines()[-1] == (
      f"{steps} steps ({models} models, {cells} scored cells): {steps} to run, 0 done in "
      f"{tmp_path}")
