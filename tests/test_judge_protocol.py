"""Protocol arithmetic on hand-built verdicts: parsing, wins, split ties, losses, errors."""
import pytest

from pinchjax.judge import protocol
from pinchjax.judge import prompts
from pinchjax.judge import scoring
from pinchjax.judge import verdict_io
from pinchjax.judge import verdicts as V


def gv(id_, lang, slot, verdict, *, error=None, raw="...", source=protocol.JUDGE,
       cand_chars=10, base_chars=10, run="cand"):
  return protocol.GameVerdict(
      id=id_, lang=lang, candidate_run=run, baseline_run="base", candidate_slot=slot,
      verdict=verdict, strength=0 if verdict in (V.TIE, None) else 1, source=source,
      error=error, raw=raw, probs=None, cached=False, judge_id="j", prompt_id="p",
      prompt_hash="h", key=None, candidate_chars=cand_chars, baseline_chars=base_chars,
      candidate_detected=lang, baseline_detected=lang, candidate_in_language=True,
      baseline_in_language=True)


def item(id_, lang, first, second, **kw):
  """Two games; `first`/`second` are slot verdicts with the candidate in A, then in B."""
  return [gv(id_, lang, "A", first, **kw), gv(id_, lang, "B", second, **kw)]


def test_parse_three_level():
  assert V.parse("Reasoning... so [[A]]") == V.Parsed("A", 1)
  assert V.parse("[[ b ]]\n") == V.Parsed("B", 1)
  assert V.parse("equal: [[C]]") == V.Parsed("tie", 0)
  assert V.parse("A is better.").verdict is None
  assert "no verdict" in V.parse("A is better.").error
  # An echo of the instructions names two verdicts: an error, never a guess.
  assert "conflicting" in V.parse("answer [[A]] or [[B]]... I pick [[A]]").error
  assert V.parse("[[A]] and again [[A]]").verdict == "A"


def test_parse_five_level():
  assert V.parse("[[A>>B]]", scale=5) == V.Parsed("A", 2)
  assert V.parse("[[A > B]]", scale=5) == V.Parsed("A", 1)
  assert V.parse("[[A=B]]", scale=5) == V.Parsed("tie", 0)
  assert V.parse("[[B>A]]", scale=5) == V.Parsed("B", 1)
  assert V.parse("[[B>>A]]", scale=5) == V.Parsed("B", 2)
  assert V.parse("[[A]]", scale=5).verdict is None
  with pytest.raises(ValueError):
    V.parse("[[A]]", scale=4)


def test_item_scores_wins_split_ties_losses():
  assert protocol.item_score(1, 1) == 1.0
  assert protocol.item_score(-1, -1) == 0.0
  assert protocol.item_score(1, -1) == 0.5  # split: each slot won once
  assert protocol.item_score(0, 1) == 0.5
  assert protocol.item_score(0, 0) == 0.5
  assert protocol.item_score(None, 1) is None


def hand_built():
  return (
      item("1", "en", "A", "B")  # candidate wins in both orders: win
      + item("2", "en", "A", "A")  # slot A wins twice: split -> tie
      + item("3", "en", "B", "A")  # baseline wins twice: loss
      + item("4", "en", "tie", "B")  # tie then win: tie
      + [gv("5", "en", "A", None, error="parse: no verdict tag"), gv("5", "en", "B", "B")]
      + item("1", "es", "A", "B", cand_chars=30, base_chars=10)
      + item("2", "es", "A", "B", cand_chars=30, base_chars=10))


def test_scores_on_hand_built_verdicts():
  s = scoring.score(hand_built(), n_boot=200)
  en = s["per_language"]["en"]
  assert en["score"] == 50.0  # (1 + 0.5 + 0 + 0.5) / 4
  assert (en["n"], en["scored"], en["unscored"]) == (5, 4, 1)
  assert (en["wins"], en["ties"], en["losses"]) == (1, 2, 1)
  assert s["per_language"]["es"]["score"] == 100.0
  assert s["macro"]["score"] == 75.0
  assert s["macro"]["languages"] == 2
  d = s["diagnostics"]
  assert d["games"] == d["judge_games"] == 14
  assert d["parse_errors"] == 1 and d["parse_error_rate"] == pytest.approx(1 / 14)
  assert d["failures"] == 0
  # Scored items 1, 2, 3, 4 (en) and 1, 2 (es); consistent: en 1, en 3, es 1, es 2.
  assert d["position_consistency"] == pytest.approx(4 / 6)
  # Decisive games: A,B  A,A  B,A  -,B  -,B  A,B  A,B -> 6 of 12 chose slot A.
  assert d["first_slot_preference"] == 0.5
  # Length ratio 1 on the five en items, 3 on the two es items.
  assert d["mean_length_ratio"] == pytest.approx((5 * 1 + 2 * 3) / 7)
  # Decisive items with different lengths: es 1 and es 2, both won by the longer response.
  assert d["longer_wins_rate"] == 1.0


def test_failures_are_counted_apart_from_parse_errors():
  vs = item("1", "en", "A", "B") + [
      gv("2", "en", "A", None, error="gave up after 5 attempts", raw=None),
      gv("2", "en", "B", "B")]
  d = scoring.score(vs, n_boot=10)["diagnostics"]
  assert (d["failures"], d["parse_errors"]) == (1, 0)
  assert scoring.score(vs, n_boot=10)["per_language"]["en"]["unscored"] == 1


def test_shortcut_games_are_not_judge_diagnostics():
  vs = (item("1", "en", "tie", "tie", source=protocol.IDENTICAL, raw=None)
        + item("2", "en", "A", "B"))
  s = scoring.score(vs, n_boot=10)
  assert s["per_language"]["en"]["score"] == 75.0
  assert s["diagnostics"]["identical_games"] == 2
  assert s["diagnostics"]["judge_games"] == 2
  assert s["diagnostics"]["position_consistency"] == 1.0


def test_items_need_both_orders_and_one_pair_of_runs():
  with pytest.raises(ValueError, match="both orders"):
    protocol.items([gv("1", "en", "A", "A")])
  with pytest.raises(ValueError, match="several pairs of runs"):
    protocol.items(item("1", "en", "A", "B") + item("2", "en", "A", "B", run="other"))
  with pytest.raises(ValueError, match="two games"):
    protocol.items(item("1", "en", "A", "B") + [gv("1", "en", "A", "A")])


def test_verdicts_jsonl_round_trip(tmp_path):
  vs = hand_built()
  path = str(tmp_path / "v.jsonl")
  verdict_io.write_verdicts(path, vs)
  assert verdict_io.read_verdicts(path) == vs
  (tmp_path / "bad.jsonl").write_text('{"id": "1"}\n')
  with pytest.raises(ValueError, match="bad.jsonl:1: missing keys"):
    verdict_io.read_verdicts(str(tmp_path / "bad.jsonl"))


def test_prompts_are_versioned_and_name_the_language():
  p = prompts.get("sxs-v1")
  msgs = p.messages("Ciao {x}", "uno", "due", "it")
  assert "written in Italian" in msgs[0]["content"]
  assert "Ciao {x}" in msgs[1]["content"]  # braces in data survive formatting
  assert msgs[1]["content"].index("uno") < msgs[1]["content"].index("due")
  assert len({q.hash for q in prompts.PROMPTS.values()}) == len(prompts.PROMPTS)
  assert p.hash == prompts.get("sxs-v1").hash and len(p.hash) == 16
  with pytest.raises(ValueError, match="known: sxs-v1"):
    prompts.get("nope")


def test_first_slot_bias_shows():
  vs = item("1", "en", "A", "A") + item("2", "en", "A", "A") + item("3", "en", "A", "B")
  d = scoring.score(vs, n_boot=10)["diagnostics"]
  assert d["first_slot_preference"] == pytest.approx(5 / 6)
  assert d["position_consistency"] == pytest.approx(1 / 3)


def test_item_scores_for_per_item_aggregation():
  assert scoring.item_scores(hand_built()) == {
      "en": {"1": 1.0, "2": 0.5, "3": 0.0, "4": 0.5}, "es": {"1": 1.0, "2": 1.0}}
