"""Bootstrap intervals: contain the estimate, shrink with items, reproducible, paired."""
import numpy as np
import pytest

from pinchjax.judge import bootstrap
from pinchjax.judge import scoring
from test_judge_protocol import item


def draw(n, p_win, seed):
  """n item scores: win with p_win, else tie or loss evenly."""
  rng = np.random.default_rng(seed)
  return rng.choice([1.0, 0.5, 0.0], size=n, p=[p_win, (1 - p_win) / 2, (1 - p_win) / 2])


def width(interval):
  return interval[1] - interval[0]


def test_intervals_contain_estimate_and_shrink_with_items():
  for n in (30, 120, 480):
    values = {"en": draw(n, 0.5, 1), "fi": draw(n, 0.3, 2), "sw": draw(n, 0.7, 3)}
    per_lang, macro = bootstrap.intervals(values, n_boot=500, seed=0)
    for lang, v in values.items():
      assert per_lang[lang][0] <= v.mean() <= per_lang[lang][1]
    point = np.mean([v.mean() for v in values.values()])
    assert macro[0] <= point <= macro[1]
    # Stratified: the macro interval is narrower than any one language's.
    assert width(macro) < min(width(i) for i in per_lang.values())
  small, _ = bootstrap.intervals({"en": draw(30, 0.5, 1)}, n_boot=500)
  large, _ = bootstrap.intervals({"en": draw(480, 0.5, 1)}, n_boot=500)
  # Width goes as 1/sqrt(n): 16x the items, about a quarter of the width.
  assert width(large["en"]) < 0.4 * width(small["en"])


def test_intervals_reproducible_and_independent_of_other_languages():
  values = {"en": draw(100, 0.5, 1), "he": draw(100, 0.4, 2)}
  a = bootstrap.intervals(values, n_boot=300, seed=7)
  assert a == bootstrap.intervals(values, n_boot=300, seed=7)
  assert a != bootstrap.intervals(values, n_boot=300, seed=8)
  alone, _ = bootstrap.intervals({"en": values["en"]}, n_boot=300, seed=7)
  assert alone["en"] == a[0]["en"]


def test_constant_scores_give_degenerate_interval_and_bad_n_boot_fails():
  per_lang, macro = bootstrap.intervals({"en": np.full(20, 0.5)}, n_boot=50)
  assert per_lang["en"] == (0.5, 0.5) and macro == (0.5, 0.5)
  with pytest.raises(ValueError, match="n_boot"):
    bootstrap.intervals({"en": np.ones(3)}, n_boot=0)


def test_score_reports_percent_intervals():
  vs = sum((item(str(i), "en", "A", "B" if i % 3 else "A") for i in range(60)), [])
  s = scoring.score(vs, n_boot=400, seed=3)
  en = s["per_language"]["en"]
  assert en["score"] == pytest.approx(100 * (40 + 20 * 0.5) / 60)
  assert en["ci"][0] <= en["score"] <= en["ci"][1]
  assert s["macro"]["ci"] == en["ci"]  # one language: macro is that language


def test_paired_difference_cancels_item_difficulty():
  # x beats the baseline on items 0..39, y on items 0..29; both lose the rest. Paired,
  # the difference (x - y) is 10 items out of 60, and its interval excludes zero even
  # though the two unpaired intervals overlap.
  def run(name, wins):
    return sum((item(str(i), "en", "A", "B", run=name) if i < wins
                else item(str(i), "en", "B", "A", run=name) for i in range(60)), [])
  x, y = run("x", 40), run("y", 30)
  delta = scoring.compare(x, y, n_boot=1000, seed=0)
  en = delta["per_language"]["en"]
  assert en["difference"] == pytest.approx(100 * 10 / 60)
  assert en["n"] == 60 and delta["unpaired_items"] == 0
  assert 0 < en["ci"][0] <= en["difference"] <= en["ci"][1]
  sx, sy = scoring.score(x, n_boot=1000), scoring.score(y, n_boot=1000)
  assert sx["per_language"]["en"]["ci"][0] < sy["per_language"]["en"]["ci"][1]
  assert delta["macro"]["difference"] == pytest.approx(en["difference"])
  assert scoring.compare(x, x, n_boot=100)["per_language"]["en"]["ci"] == [0.0, 0.0]
