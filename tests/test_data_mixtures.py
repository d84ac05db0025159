"""Mixture arithmetic on the paper's 4,640-example parallel set."""
import collections
import itertools

import pytest

from pinchjax import languages
from pinchjax.data import mixtures

IDS = [f"ex{i:05d}" for i in range(4640)]
PAPER = languages.PAPER_LANGUAGES


def _check_partition(part, budget):
  all_ids = list(itertools.chain.from_iterable(part.values()))
  assert len(all_ids) == len(set(all_ids)), "ids repeat across slices"
  assert len(all_ids) == budget
  assert set(all_ids) <= set(IDS)


def test_pinch_p1_has_46_multilingual_examples_spread_evenly():
  part = mixtures.pinch(IDS, None, PAPER, 1, seed=0)
  _check_partition(part, 4640)
  assert mixtures.multilingual_count(4640, 1) == 46
  non_en = {l: len(v) for l, v in part.items() if l != "en"}
  assert set(non_en) == set(PAPER) - {"en"}
  # 46 = 12 * 3 + 10: every language gets 3 or 4 of the multilingual share, English included.
  en_share = len(part["en"]) - (4640 - 46)
  shares = list(non_en.values()) + [en_share]
  assert sorted(set(shares)) == [3, 4] and sum(shares) == 46
  assert 40 <= sum(non_en.values()) <= 44  # the paper's "about 40" non-English examples


def test_p0_is_english_only_and_p100_is_uniform():
  p0 = mixtures.pinch(IDS, None, PAPER, 0, seed=3)
  assert list(p0) == ["en"] and len(p0["en"]) == 4640
  p100 = mixtures.pinch(IDS, None, PAPER, 100, seed=3)
  _check_partition(p100, 4640)
  sizes = collections.Counter(len(v) for v in p100.values())
  assert sizes == {387: 8, 386: 4}  # 4640 = 12 * 386 + 8
  assert p100 == mixtures.uniform(IDS, None, PAPER, seed=3)


@pytest.mark.parametrize("percent", [10, 20, 50, 90])
def test_pinch_counts_for_other_percents(percent):
  part = mixtures.pinch(IDS, 1000, PAPER, percent, seed=1)
  _check_partition(part, 1000)
  n_multi = 1000 * percent // 100
  others = [len(v) for l, v in part.items() if l != "en"]
  assert max(others) - min(others) <= 1 and sum(others) + len(part["en"]) == 1000
  assert len(part["en"]) >= 1000 - n_multi + n_multi // 12


def test_same_seed_same_partition_other_seed_other():
  a = mixtures.pinch(IDS, None, PAPER, 10, seed=0)
  assert a == mixtures.pinch(IDS, None, PAPER, 10, seed=0)
  b = mixtures.pinch(IDS, None, PAPER, 10, seed=1)
  assert a != b
  _check_partition(b, 4640)


def test_budget_selects_a_subset_and_input_order_does_not_matter():
  part = mixtures.pinch(IDS, 500, PAPER, 50, seed=2)
  _check_partition(part, 500)
  assert part == mixtures.pinch(list(reversed(IDS)), 500, PAPER, 50, seed=2)
  with pytest.raises(ValueError, match="budget 5000"):
    mixtures.pinch(IDS, 5000, PAPER, 50, seed=2)


def test_seen_pinch_and_first_k_and_pairs():
  seen = languages.SEEN
  part = mixtures.pinch(IDS, None, seen, 60, seed=0)
  assert set(part) == set(seen)
  _check_partition(part, 4640)
  orders = mixtures.orderings(seen, 3, seed=0)
  assert len(set(orders)) == 3 and all(o[0] == "en" and sorted(o) == sorted(seen) for o in orders)
  for k in range(1, 7):
    fk = mixtures.first_k(IDS, None, orders[1], k, seed=0)
    assert list(fk) == list(orders[1][:k])
    _check_partition(fk, 4640)
    assert max(map(len, fk.values())) - min(map(len, fk.values())) <= 1
  pairs = mixtures.random_pairs(PAPER, seed=0)
  assert len(pairs) == 6 and sorted(itertools.chain(*pairs)) == sorted(PAPER)
  assert pairs != mixtures.random_pairs(PAPER, seed=1)
  pr = mixtures.pair(IDS, None, *pairs[0], seed=0)
  assert [len(v) for v in pr.values()] == [2320, 2320]


def test_mono_and_errors():
  assert mixtures.mono(IDS, None, "sw", 0) == {"sw": mixtures.select(IDS, None, 0)}
  with pytest.raises(ValueError, match="base language"):
    mixtures.pinch(IDS, None, ("ar", "fi"), 10, 0)
  with pytest.raises(ValueError, match="between 0 and 100"):
    mixtures.pinch(IDS, None, PAPER, 101, 0)
  with pytest.raises(ValueError, match="odd"):
    mixtures.random_pairs(("en", "ar", "fi"), 0)
  with pytest.raises(ValueError, match="only 2 orders"):
    mixtures.orderings(("en", "ar", "fi"), 3, 0)
