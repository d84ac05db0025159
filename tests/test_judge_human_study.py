"""Human evaluation of a study: export from its judge steps, import into RESULTS_DIR/human,
and the report's section."""
import json
import random

import gin
import pytest
from test_judge_human import clean_gin  # noqa: F401  (autouse: gin cleared around each test)

from pinchjax import cli
from pinchjax import atomic_file
from pinchjax.data import generations
from pinchjax.judge import records
from pinchjax.study import executors, grid, report, runner

N = 40  # eval items per language
LANGS = ("en", "fi")


def _train(step, inputs, out_dir):
  return {}


def _infer(step, inputs, out_dir):
  """Generations whose quality depends on the model, language and item."""
  p = step.params
  rows = []
  for i in range(N):
    rng = random.Random(f"{p['model']}/{p['lang']}/{i}")
    words = " ".join(rng.choices(["sun", "tree", "road", "salt"], k=rng.randint(1, 20)))
    rows.append({"id": str(i), "lang": p["lang"], "instruction": f"do {i} in {p['lang']}",
                 "response": f"{'good' if rng.random() < 0.5 else 'poor'} {words}",
                 "run": p["model"], "decode_config": {}})
  generations.write(f"{out_dir}/{executors.GENERATIONS}", rows)
  return {"generations": executors.GENERATIONS}


@pytest.fixture
def results_dir(tmp_path):
  study = grid.Study(
      name="human", dataset="toy", evalset="toy_eval", languages=LANGS, seen=LANGS,
      experiments=("mono",),
      judge={"gin_files": ["gin/judges/verifiable.gin"],
             "bindings": ["VerifiableBackend.checker = @test_judge_human.checker",
                          "judge_run.n_boot = 10"]})
  d = str(tmp_path / "results")
  assert runner.Runner(grid.expand(study), d,
                       {"train": _train, "infer": _infer, "judge": executors.judge},
                       log=lambda s: None).run().ok
  gin.clear_config()
  return d


def test_study_package_import_and_report(results_dir, tmp_path, capsys):
  pkg = tmp_path / "pkg"
  assert cli.main(["judge", "export-human", "--study", results_dir, "--out", str(pkg),
                   "--per-language", "30", "--seed", "5"]) == 0
  key = json.load(open(pkg / "key.json"))
  # mono_en and mono_fi in both languages; a model against itself (the diagonal) has only
  # identical pairs, settled without the judge, so only the off-diagonal steps are sampled.
  assert key["sources"] == [f"judge/mono_{m}_s0/{l}" for m in LANGS for l in LANGS]
  assert {k["source"] for k in key["items"]} == {"judge/mono_en_s0/fi", "judge/mono_fi_s0/en"}
  for lang in LANGS:
    assert key["sampling"][lang]["settled_without_judge"] == N
    assert sum(key["sampling"][lang]["sample"].values()) == 30
  assert key["per_language"] == 30 and key["seed"] == 5
  rows = [obj for _, obj in records.iter_jsonl(str(pkg / "raters" / "items.jsonl"))]
  # A rater who agrees with the judge on every pair.
  for r in rows:
    k = next(k for k in key["items"] if k["item_id"] == r["item_id"])
    r["label"] = ("tie" if k["judge"] == "tie" else "A" if k["judge"] == k["a"] else "B")
  atomic_file.write_jsonl(str(tmp_path / "cho.jsonl"), rows)
  assert cli.main(["judge", "import-human", "--key", str(pkg / "key.json"),
                   f"cho={tmp_path / 'cho.jsonl'}", "--n-boot", "50"]) == 0
  summary = json.load(open(f"{results_dir}/human/agreement.json"))
  for lang in LANGS:
    jh = summary["per_language"][lang]["judge_human"]
    assert jh["agreement"] == 100 and jh["kappa"] == pytest.approx(1.0)
    assert jh["votes"] == 30
  text = open(report.build(results_dir), encoding="utf-8").read()
  section = text.split("## Human evaluation", 1)[1].split("\n## ", 1)[0]
  assert "(60 labels; 95% bootstrap intervals" in section
  assert "| en | 30 | 1 | 100.0 [100.0, 100.0] |" in section
  assert "| fi | 30 | 1 | 100.0 [100.0, 100.0] |" in section
  assert "judge-human" in capsys.readouterr().out


def test_report_without_labels_has_no_human_section(results_dir):
  assert "## Human evaluation" not in open(report.build(results_dir), encoding="utf-8").read()
