"""The report on fixture results with known numbers: tables, findings and figures."""
import os

import numpy as np
import pytest

from pinchjax.judge import protocol, scoring
from pinchjax.judge import verdicts as V
from pinchjax.study import findings, grid, report, results, runner
from pinchjax.study.results import Estimate, Results

N = 200  # items per cell: a score of v% is v*2 ones (paired items line up by position)
LANGS = ("en", "fi", "cs", "zh")
IF = {  # config -> IF in en, fi, cs, zh
    "mono_en": (50, 30, 20, 10), "mono_fi": (35, 50, 25, 15),
    "mono_cs": (40, 30, 50, 20), "mono_zh": (20, 10, 15, 50),
    "base": (0, 0, 0, 0),
    "pinch_p0": (50, 30, 20, 10), "pinch_p1": (50, 45, 40, 35), "pinch_p100": (60, 55, 50, 20),
    "pinch_seen_p10": (50, 40, 30, 20), "pinch_p10": (50, 40, 35, 30),
    "k1_o0": (None, None, 20, 10),
    "k2_o0": (None, None, 48, 46), "k2_o1": (None, None, 45, 45),
    "pair_en_fi": (None, None, 30, 20), "pair_cs_zh": (40, 30, None, None),
}
SHARE = {"en": 0.5, "fi": 0.1, "cs": 0.2, "zh": 0.2}


# Slot verdicts of an item's two games (candidate in A, then in B) for its score.
_GAMES = {1.0: (V.A, V.B), 0.0: (V.B, V.A), 0.5: (V.TIE, V.TIE)}


def game_verdicts(model, baseline, lang, items, in_language=lambda i: True):
  """The two judge games of each item (id -> score), as the judge writes them."""
  out = []
  for n, (id_, score) in enumerate(items.items()):
    for slot, verdict in zip((V.A, V.B), _GAMES[score]):
      out.append(protocol.GameVerdict(
          id=id_, lang=lang, candidate_run=model, baseline_run=baseline, candidate_slot=slot,
          verdict=verdict, strength=int(verdict != V.TIE), source=protocol.JUDGE, error=None,
          raw=f"[[{'C' if verdict == V.TIE else verdict}]]", probs=None, cached=False,
          judge_id="fixture", prompt_id="sxs-v1", prompt_hash="h", key=id_,
          candidate_chars=10, baseline_chars=10, candidate_detected=lang,
          baseline_detected=lang, candidate_in_language=in_language(n),
          baseline_in_language=True))
  return out


def write_judged_cell(step, out_dir, items, accuracy, in_language=lambda i: True):
  """A judge step's cell.json through the study's own writer, from judge verdicts."""
  p = step.params
  vs = game_verdicts(p["model"], p["baseline"], p["lang"], items, in_language)
  return {"cell": results.write_cell(out_dir, p["model"], p["lang"], p["baseline"], vs,
                                     scoring.score(vs, n_boot=10), accuracy)}


def _judge(step, inputs, out_dir):
  cfg, lang = step.params["model"].rsplit("_s", 1)[0], step.params["lang"]
  value = IF[cfg][LANGS.index(lang)]
  items = {f"{i:03d}": 1.0 if i < 2 * value else 0.0 for i in range(N)}
  return write_judged_cell(step, out_dir, items, value / 100,
                           lambda i: cfg != "base" or i < 0.8 * N)


def _noop(step, inputs, out_dir):
  return {}


def build_fixture(d: str) -> None:
  """Runs the fixture study with fake executors whose judge writes the cells of IF."""
  study = grid.Study(
      name="fixture", dataset="toy", evalset="toy_eval", languages=LANGS, seen=("en", "fi"),
      pinch_values=(0, 1, 100), seen_pinch_values=(0, 10), k_values=(1, 2), orderings=(0, 1),
      pairs=(("en", "fi"), ("cs", "zh")), base_checkpoint="toy_base", pretraining_share=SHARE)
  g = grid.expand(study)
  executors = {"train": _noop, "infer": _noop, "judge": _judge}
  assert runner.Runner(g, d, executors, log=lambda s: None).run().ok


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("results"))
  build_fixture(d)
  return d


def test_scores_and_intervals(results_dir):
  r = Results(results_dir)
  e = r.score("mono_fi", "en")
  assert e.value == pytest.approx(35.0) and e.lo < 35 < e.hi and e.n == N
  assert r.score("pinch_p1", ["fi", "cs", "zh"]).value == pytest.approx(40.0)
  g = r.gain("pinch_p1", "pinch_p0", ["fi", "cs", "zh"])
  assert g.value == pytest.approx(20.0) and g.lo > 10
  assert r.metric("mono_en", "cs", "accuracy") == pytest.approx(0.2)
  assert findings.unseen_by_k(r) == {1: pytest.approx(15.0), 2: pytest.approx(46.0)}


def test_findings_verdicts_and_numbers(results_dir):
  f = {x.claim.split()[0] + x.claim.split()[1]: x for x in findings.check_all(Results(results_dir))}
  assert f["Monolingualtuning"].verdict == findings.HOLDS
  here = f["Monolingualtuning"].here
  assert here.startswith("significant gain over the base in 4/4 languages; paired gain of "
                         "the cross-lingual IF: en 31.7 [")
  assert ", zh 15.0 [" in here
  # accuracy = IF / 100 in the fixture: off-diagonal mean (95 + 70 + 60 + 45) / 12.
  assert "checker accuracy off the diagonal 22.5% vs 0.0% for the base" in f[
      "Monolingualtuning"].here
  assert f["P=1(about"].verdict == findings.HOLDS
  assert "P=1 vs pinch_p0: non-English average gain 20.0 [" in f["P=1(about"].here
  assert "3/3 languages gain" in f["P=1(about"].here
  assert f["AtP=100"].verdict == findings.HOLDS
  assert "matched or beaten in 3/4 languages (en, fi, cs)" in f["AtP=100"].here
  assert f["2-4tuning"].verdict == findings.HOLDS
  assert f["2-4tuning"].here == "unseen average by K: K=1: 15.0, K=2: 46.0"
  cross = [np.mean([35, 40, 20]), np.mean([30, 30, 10]), np.mean([20, 25, 15]),
           np.mean([10, 15, 20])]
  rho = np.corrcoef([SHARE[l] for l in LANGS], cross)[0, 1]
  assert f["Weakcorrelation"].here == f"r = {rho:.2f} over 4 languages" == "r = 0.73 over 4 " \
      "languages"
  assert f["Weakcorrelation"].verdict == findings.NO  # a strong correlation; rule: |r| < 0.3
  assert f["Modelsanswer"].verdict == findings.HOLDS  # 0.8 only for the base model's 4 cells


def test_report_shows_the_numbers(results_dir):
  path = report.build(results_dir)
  text = open(path).read()
  assert "| mono_en | 50.0 | 30.0 | 20.0 | 10.0 |" in text
  assert "| mono_zh | 20.0 | 10.0 | 15.0 | 50.0 |" in text
  assert "| mono_cs | 40.0 | 30.0 | 50.0 | 20.0 |" in text  # checker accuracy table
  pinch = [l for l in text.splitlines() if l.startswith("| 1 |")][0]
  assert pinch.startswith("| 1 | 50.0 [") and "| 40.0 [" in pinch and pinch.endswith(
      "| 50.0 | 40.0 |")
  seen = [l for l in text.splitlines() if l.startswith("| 10 |")][0]
  assert "| 40.0 [" in seen and "| 25.0 [" in seen
  assert "| k2_o0 | 2 | 0 | 47.0 [" in text
  assert "| en+fi | 25.0 [" in text and "| cs+zh | 35.0 [" in text
  assert "| IF | 0.0 | 0.0 | 0.0 | 0.0 |" in text and "| fidelity | 80.0 | 80.0 |" in text
  assert text.count("**holds**") == 5
  assert "Steps: " in text and "0 failed, 0 skipped" in text
  for png in ("transfer_heatmap", "pinch_curve", "seen_curve", "num_languages", "fidelity"):
    assert f"({png}.png)" in text
    with open(os.path.join(os.path.dirname(path), f"{png}.png"), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_english_model_stands_at_p0_without_a_p0_model(tmp_path):
  study = grid.Study(name="nop0", dataset="toy", evalset="toy_eval", languages=LANGS,
                     experiments=("mono", "pinch"), pinch_values=(10,))
  executors = {"train": _noop, "infer": _noop, "judge": _judge}
  assert runner.Runner(grid.expand(study), str(tmp_path), executors, log=lambda s: None).run().ok
  r = Results(str(tmp_path))
  assert r.sweep("pinch") == [(0, "mono_en"), (10, "pinch_p10")]
  finding = findings.pinch_one(r)
  # Gains over mono_en in fi, cs, zh: 10, 15, 20.
  assert finding.here.startswith("P=10 vs mono_en: non-English average gain 15.0 [")
  text = open(report.build(str(tmp_path))).read()
  assert "| 0 (mono_en) | 50.0 [" in text and "| 10 | 50.0 [" in text


def test_seeds_are_averaged_item_by_item(tmp_path):
  def judge(step, inputs, out_dir):
    seed = int(step.params["model"].rsplit("_s", 1)[1])
    value = 20 if step.params["model"] != step.params["baseline"] else 50
    value += 10 * seed * (value != 50)  # seed 1 scores 10 points more off the diagonal
    items = {f"{i:03d}": 1.0 if i < 2 * value else 0.0 for i in range(N)}
    return write_judged_cell(step, out_dir, items, None)

  study = grid.Study(name="seeds", dataset="toy", evalset="toy_eval", languages=("en", "fi"),
                     experiments=("mono",), seeds=(0, 1))
  executors = {"train": _noop, "infer": _noop, "judge": judge}
  assert runner.Runner(grid.expand(study), str(tmp_path), executors, log=lambda s: None).run().ok
  r = Results(str(tmp_path))
  assert r.score("mono_en", "fi").value == pytest.approx(25.0)  # (20 + 30) / 2
  assert r.score("mono_en", "fi").n == N
  assert r.metric("mono_en", "fi", "accuracy") is None
  assert "| mono_en | 50.0 | 25.0 |" in open(report.build(str(tmp_path))).read()


# Each finding's rule right at its thresholds, on both sides: a stand-in for Results that
# holds the estimates a finding reads (value and 95% interval), set directly.


class Fixed:
  def __init__(self, languages, scores=(), gains=(), metrics=(), configs=(), sweep=(),
               study=()):
    self.languages = list(languages)
    self.scores = dict(scores)  # (config, lang or tuple of langs) -> Estimate
    self.gains = dict(gains)  # tuple of langs -> Estimate (whichever models are compared)
    self.metrics = dict(metrics)  # (config, lang, name) -> value
    self._configs, self._sweep, self.study = dict(configs), dict(sweep), dict(study)
    self.cells = {(c, l): [] for c, l, _ in self.metrics}

  def configs(self, experiment):
    return self._configs.get(experiment, [])

  def sweep(self, experiment):
    return self._sweep.get(experiment, [])

  def has(self, config, lang):
    return (config, lang) in self.scores

  def score(self, config, langs):
    return self.scores.get((config, langs if isinstance(langs, str) else tuple(langs)))

  def gain(self, configs, reference, langs):
    return self.gains.get(tuple(langs))

  def metric(self, config, lang, name):
    return self.metrics.get((config, lang, name))


def est(value, lo=None, hi=None):
  return Estimate(value, value - 5 if lo is None else lo, value + 5 if hi is None else hi, N)


def mono(langs, cross):
  """Monolingual models and a scored base; `cross[l]`: every other model's IF in l."""
  scores = {(f"mono_{t}", l): est(50.0 if t == l else cross[l]) for t in langs for l in langs}
  scores.update({("base", l): est(0.0) for l in langs})
  return scores, {"mono": [(t, f"mono_{t}") for t in langs]}


@pytest.mark.parametrize("lows, verdict", [
    ((0.1, 0.1, 0.1, 0.1), findings.HOLDS),
    ((0.1, 0.1, 0.1, 0.0), findings.PARTLY),  # an interval touching 0 is not above it
    ((0.1, 0.1, 0.0, -0.1), findings.NO),  # half the languages is not most of them
])
def test_transfer_thresholds(lows, verdict):
  scores, configs = mono(LANGS, dict.fromkeys(LANGS, 20.0))
  gains = {(l,): est(20.0, lo=lo) for l, lo in zip(LANGS, lows)}
  f = findings.transfer(Fixed(LANGS, scores, gains, configs=configs))
  assert f.verdict == verdict
  assert f.here.startswith(f"significant gain over the base in {sum(lo > 0 for lo in lows)}/4")


@pytest.mark.parametrize("total, per_lang, verdict", [
    (est(5.0, lo=0.1), (1.0, 1.0, 1.0), findings.HOLDS),
    (est(4.9, lo=0.1), (1.0, 1.0, 1.0), findings.PARTLY),  # under 5 points
    (est(5.0, lo=0.0), (1.0, 1.0, 1.0), findings.PARTLY),  # interval not above 0
    (est(5.0, lo=0.1), (1.0, 1.0, 0.0), findings.PARTLY),  # one language does not gain
    (est(5.0, lo=0.0), (1.0, 0.0, -1.0), findings.NO),  # 1/3 gain, interval not above 0
])
def test_pinch_one_thresholds(total, per_lang, verdict):
  others = LANGS[1:]
  gains = {others: total, **{(l,): est(g) for l, g in zip(others, per_lang)}}
  r = Fixed(LANGS, gains=gains, sweep={"pinch": [(0, "pinch_p0"), (1, "pinch_p1")]})
  f = findings.pinch_one(r)
  assert f.verdict == verdict
  assert f.here.endswith(f"{sum(g > 0 for g in per_lang)}/3 languages gain")


@pytest.mark.parametrize("highs, verdict", [
    ((50.0, 50.0, 49.9), findings.HOLDS),  # 2/3 matched (the paper's 8 of 12); 50 reaches 50
    ((50.0, 49.9, 49.9), findings.PARTLY),
    ((49.9, 49.9, 49.9), findings.NO),
])
def test_uniform_vs_mono_thresholds(highs, verdict):
  langs = LANGS[:3]
  scores = {("pinch_p100", l): est(40.0, hi=hi) for l, hi in zip(langs, highs)}
  r = Fixed(langs, scores, sweep={"pinch": [(0, "pinch_p0"), (100, "pinch_p100")]})
  f = findings.uniform_vs_mono(r)
  assert f.verdict == verdict
  assert f.here.startswith(f"matched or beaten in {sum(h >= 50 for h in highs)}/3 languages")


@pytest.mark.parametrize("k2, k6, verdict", [
    (45.0, 50.0, findings.HOLDS),  # reaches 45; K=6 adds exactly 5
    (44.9, 49.9, findings.PARTLY),  # saturates but never reaches 45
    (45.0, 50.1, findings.PARTLY),  # reaches 45 but K=6 adds more than 5
    (44.9, 50.0, findings.NO),
])
def test_num_languages_thresholds(k2, k6, verdict):
  unseen = ("cs", "zh")
  scores = {("k2_o0", unseen): est(k2), ("k6_o0", unseen): est(k6)}
  r = Fixed(LANGS, scores, configs={"num_langs": [((2, 0), "k2_o0"), ((6, 0), "k6_o0")]},
            study={"unseen": unseen})
  f = findings.num_languages(r)
  assert f.verdict == verdict and f.here == f"unseen average by K: K=2: {k2}, K=6: {k6}"


@pytest.mark.parametrize("rho, verdict", [
    (0.29, findings.HOLDS), (0.31, findings.NO), (-0.29, findings.HOLDS), (-0.31, findings.NO)])
def test_pretraining_share_thresholds(rho, verdict):
  shares = np.array([0.1, 0.2, 0.3, 0.4])
  x = (shares - shares.mean()) / np.linalg.norm(shares - shares.mean())
  z = np.array([1.0, -1.0, -1.0, 1.0]) / 2  # centred, unit length, orthogonal to x
  cross = 30 + 10 * (rho * x + np.sqrt(1 - rho ** 2) * z)  # Pearson r of (shares, cross) = rho
  scores, configs = mono(LANGS, dict(zip(LANGS, cross)))
  r = Fixed(LANGS, scores, configs=configs, study={"pretraining_share": dict(zip(LANGS, shares))})
  f = findings.pretraining_share(r)
  assert f.verdict == verdict and f.here == f"r = {rho:.2f} over 4 languages"


@pytest.mark.parametrize("values, verdict", [
    ((0.9, 0.9), findings.HOLDS), ((0.9, 0.89), findings.PARTLY), ((0.5, 0.5), findings.PARTLY),
    ((0.5, 0.49), findings.NO)])
def test_fidelity_thresholds(values, verdict):
  metrics = {(f"m{i}", "en", "fidelity"): v for i, v in enumerate(values)}
  f = findings.fidelity(Fixed(["en"], metrics=metrics))
  assert f.verdict == verdict and f.here.startswith(f"{50 * sum(values):.1f}% on average")
