"""A study judged by the study's real judge step (a scripted judge model behind it) in which
some judges cannot be trusted: the report's health table flags them, findings that need them
get no verdict, and `pinchjax study` exits 1 naming them."""
import os
import shutil

import gin
import pytest

from pinchjax import cli
from pinchjax.data import generations
from pinchjax.study import executors, findings, grid, preflight, report, runner
from pinchjax.study.results import Results
from test_judge_health import DOWN, UNREADABLE

N = 50  # eval items per language
# (model, lang) -> what its responses are, item by item: UNREADABLE/DOWN for the first
# `unreadable`/`down` items, then `identical` copies of the baseline's response; the rest
# alternate "good" (beats the baseline's "poor") and "fair" (a tie).
SPEC = {
    ("mono_fi_s0", "en"): {"identical": 10, "unreadable": 40},  # 100% parse errors, 50 [50, 50]
    ("pinch_p0_s0", "en"): {"unreadable": 2},  # 4 of 100 calls: kept
    ("pinch_p0_s0", "fi"): {"unreadable": 3},  # 6 of 100: unreliable
    ("pinch_p10_s0", "en"): {"down": 1},  # 2 failed calls of 100: kept
    ("pinch_p10_s0", "fi"): {"identical": 30},  # 60% identical pairs: unreliable
}
UNRELIABLE = ("judge/mono_fi_s0/en", "judge/pinch_p0_s0/fi", "judge/pinch_p10_s0/fi")
JUDGE = {"bindings": ["judge_run.backend = @ScriptedBackend()",
                      f"judge_run.language_of = @{__name__}.language_of",
                      "judge_run.n_boot = 200"]}


@gin.register
def language_of(text):
  return text[1:3]  # responses start with their language: "[fi] ..."


def response(model, lang, i):
  if model == f"mono_{lang}_s0":  # the baseline M_L
    return f"[{lang}] poor {i}"
  spec = SPEC.get((model, lang), {})
  edges = {}
  n = 0
  for kind in ("unreadable", "down", "identical"):
    n += spec.get(kind, 0)
    edges[kind] = n
  if i < edges["unreadable"]:
    return f"[{lang}] {UNREADABLE} {i}"
  if i < edges["down"]:
    return f"[{lang}] {DOWN} {i}"
  if i < edges["identical"]:
    return f"[{lang}] poor {i}"
  return f"[{lang}] {'good' if i % 2 == 0 else 'fair'} {i}"


def _infer(step, inputs, out_dir):
  p = step.params
  generations.write(os.path.join(out_dir, executors.GENERATIONS), [
      {"id": f"{i:02d}", "lang": p["lang"], "instruction": f"[{p['lang']}] question {i}",
       "response": response(p["model"], p["lang"], i), "run": p["model"]} for i in range(N)])
  return {"generations": executors.GENERATIONS}


def _noop(step, inputs, out_dir):
  return {}


FAKE = {"train": _noop, "infer": _infer, "judge": executors.judge}


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def study(**kw):
  return grid.Study(name="health", dataset="toy", evalset="toy_eval", languages=("en", "fi"),
                    experiments=("mono", "pinch"), pinch_values=(0, 10), judge=JUDGE, **kw)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("health"))
  assert runner.Runner(grid.expand(study()), d, FAKE, log=lambda s: None).run().ok
  gin.clear_config()
  return d


def test_unreliable_cells_are_flagged_and_unscored(results_dir):
  r = Results(results_dir)
  assert len(r.judged) == 8
  assert sorted(j.step for j in r.judged if not j.reliable) == list(UNRELIABLE)
  health = {j.step: j.health for j in r.judged}
  assert health["judge/mono_fi_s0/en"]["parse_error_rate"] == 1.0
  assert health["judge/mono_fi_s0/en"]["identical_share"] == pytest.approx(0.2)
  assert health["judge/pinch_p0_s0/en"]["parse_error_rate"] == pytest.approx(0.04)
  assert health["judge/pinch_p10_s0/en"]["failure_rate"] == pytest.approx(0.02)
  assert health["judge/mono_en_s0/en"]["self_comparison"]
  # The judge's own score of the broken cell: the 10 identical ties, 50.0 [50, 50].
  scores = runner.read_json(os.path.join(results_dir, "steps/judge/mono_fi_s0/en/scores.json"))
  en = scores["per_language"]["en"]
  assert en["score"] == 50.0 and en["ci"] == [50, 50]
  assert r.score("mono_fi", "en") is None and not r.has("mono_fi", "en")
  assert r.score("pinch_p10", ["en", "fi"]) is None  # no average hides a language
  # Kept at 4% parse errors: items 2..49 score, even ones won, odd ones tied.
  assert r.score("pinch_p0", "en").value == pytest.approx(100 * (24 + 12) / 48)
  assert r.metric("mono_fi", "en", "fidelity") == 1.0  # not the judge's: still read


def test_findings_that_need_them_are_not_measured(results_dir):
  f = {x.claim.split()[0] + x.claim.split()[1]: x for x in findings.check_all(Results(results_dir))}
  assert f["Monolingualtuning"].verdict == "not measured: judge unreliable in 1 cell"
  assert f["Monolingualtuning"].here == ("needs cells whose judge is unreliable (see Judge "
                                         "health): `judge/mono_fi_s0/en`")
  assert f["P=1(about"].verdict == "not measured: judge unreliable in 2 cells"
  assert "`judge/pinch_p0_s0/fi`, `judge/pinch_p10_s0/fi`" in f["P=1(about"].here
  assert f["AtP=100"].verdict == findings.UNMEASURED  # lacks the run, judge aside
  assert f["Weakcorrelation"].verdict == findings.UNMEASURED
  assert f["Modelsanswer"].verdict == findings.HOLDS  # fidelity is not the judge's


def test_report_shows_the_health_table_first(results_dir):
  text = open(report.build(results_dir)).read()
  top = text[text.index("## Judge health"):text.index("## Headline findings")]
  assert "8 judge steps, 5 reliable, 3 unreliable" in top and "(here 5.0% and 50.0%" in top
  assert [l.split(" | ")[0] for l in top.splitlines() if l.startswith("| `")] == [
      f"| `{s}`" for s in UNRELIABLE]
  assert ("| `judge/mono_fi_s0/en` | 80 | 100.0 | 0.0 | - | - | 20.0 | **no: unreadable or "
          "failed judge output in 100.0% of 80 judge calls (80 parse errors, 0 failed calls; "
          "limit 5.0%)** |") in top
  assert ("| `judge/pinch_p10_s0/fi` | 40 | 0.0 | 0.0 | 100.0 | 50.0 | 60.0 | **no: 60.0% of "
          "pairs tied as identical responses without a judge call (limit 50.0%)** |") in top
  assert "6.0% of 100 judge calls (6 parse errors" in top
  assert "| `judge/pinch_p0_s0/en` | 100 | 4.0 | 0.0 | 100.0 | 50.0 | 0.0 | yes |" in text
  assert "| `judge/pinch_p10_s0/en` | 100 | 0.0 | 2.0 | 100.0 | 50.0 | 0.0 | yes |" in text
  assert ("| `judge/mono_en_s0/en` | 0 | - | - | - | - | 100.0 | yes (judged against itself: "
          "ties by construction) |") in text
  assert text.count("**not measured: judge unreliable in") == 2
  assert "**holds**" in text and "**does not hold**" not in text and "**partly**" not in text
  assert "| mono_fi | unreliable | 50.0 |" in text  # not the judge's 50.0 from ties
  # P=10 in en: item 0 failed, then 24 wins and 25 ties of 49; fi (its non-English
  # average) unreliable.
  row = next(l for l in text.splitlines() if l.startswith("| 10 |"))
  assert row.startswith("| 10 | 74.5 [") and row.endswith("| unreliable | - | - |")


def test_cells_written_before_they_carried_health(results_dir, tmp_path):
  d = str(tmp_path / "old")
  shutil.copytree(results_dir, d)
  manifest = runner.read_json(os.path.join(d, runner.MANIFEST))
  for step_id, entry in manifest["steps"].items():
    if entry["kind"] == "judge":
      path = os.path.join(d, "steps", step_id, "cell.json")
      runner.write_json(path, {k: v for k, v in runner.read_json(path).items() if k != "judge"})
  del manifest["steps"]["judge/mono_en_s0/fi"]["outputs"]["scores"]  # nothing to assess
  runner.write_json(os.path.join(d, runner.MANIFEST), manifest)
  r = Results(d)
  # The others are assessed from their scores.json, as the judge step would have.
  assert sorted(j.step for j in r.judged if not j.reliable) == sorted(
      UNRELIABLE + ("judge/mono_en_s0/fi",))
  old = {j.step: j.health for j in r.judged}
  assert old["judge/pinch_p0_s0/fi"]["reasons"] == {
      j.step: j.health for j in Results(results_dir).judged}["judge/pinch_p0_s0/fi"]["reasons"]
  assert old["judge/mono_en_s0/fi"]["reasons"] == [
      "no judge diagnostics recorded (judge/mono_en_s0/fi: no 'judge' in cell.json, no "
      "scores.json)"]


def _study_cli(tmp_path, monkeypatch, *overrides):
  monkeypatch.setattr(executors, "default", lambda: FAKE)
  # The steps are stand-ins that need no data, tokenizer or model: nothing to preflight.
  monkeypatch.setattr(preflight, "check", lambda run: [])
  path = tmp_path / "health.gin"
  path.write_text("\n".join([
      "Study.name = 'health'", "Study.dataset = 'toy'", "Study.evalset = 'toy_eval'",
      "Study.languages = ['en', 'fi']", "Study.experiments = ['mono', 'pinch']",
      "Study.pinch_values = [0, 10]", f"Study.judge = {JUDGE!r}"]))
  return cli.main(["study", str(path), "--results", str(tmp_path / "r"), *overrides])


def test_study_exits_1_naming_unreliable_judges(tmp_path, monkeypatch, capsys):
  assert _study_cli(tmp_path, monkeypatch) == 1
  out = capsys.readouterr().out.splitlines()
  flagged = [l for l in out if l.startswith("UNRELIABLE")]
  assert [l.split(":")[0] for l in flagged] == [f"UNRELIABLE {s}" for s in UNRELIABLE], out
  assert flagged[2] == ("UNRELIABLE judge/pinch_p10_s0/fi: 60.0% of pairs tied as identical "
                        "responses without a judge call (limit 50.0%)")
  assert any(l.startswith("report: ") for l in out)


def test_study_exits_0_when_thresholds_trust_every_judge(tmp_path, monkeypatch, capsys):
  bindings = JUDGE["bindings"] + ["judge_health.max_error_rate = 1.0",
                                  "judge_health.max_identical_share = 1.0"]
  assert _study_cli(tmp_path, monkeypatch, f"--gin.Study.judge={ {'bindings': bindings}!r}") == 0
  assert not any(l.startswith("UNRELIABLE") for l in capsys.readouterr().out.splitlines())
