"""The judge's health: rates from the verdicts, the reliable/unreliable call at the threshold
edges, gin-set thresholds, and `pinchjax judge` reporting it."""
import json

import gin
import pytest

from pinchjax import cli
from pinchjax.data import generations
from pinchjax.judge import health, protocol, scoring, table
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base
from test_judge_protocol import gv, item

UNREADABLE = "#garbled#"  # a response the scripted judge answers without a verdict tag
DOWN = "#down#"  # ... one it never answers (a failed call)


@gin.configurable
class ScriptedBackend(base.Backend):
  """A judge model's free text, read by the real parser: a response saying "good" beats one
  that does not; a game showing UNREADABLE gets prose with no verdict tag, one showing DOWN
  no answer at all."""
  judge_id = "scripted"

  def judge(self, games, prompt, on_answer):
    for i, g in enumerate(games):
      texts = (g.response_a, g.response_b)
      if any(DOWN in t for t in texts):
        on_answer(i, base.Answer(None, None, error="gave up after 5 attempts"))
        continue
      if any(UNREADABLE in t for t in texts):
        raw = "Both responses have their merits."
      else:
        a, b = ("good" in t for t in texts)
        raw = "Verdict: [[" + ("C" if a == b else "A" if a else "B") + "]]"
      parsed = V.parse(raw)
      on_answer(i, base.Answer(raw, parsed.verdict, parsed.strength, parsed.error))


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def judging(items=50, parse_errors=0, failures=0, identical=0, run="cand"):
  """`items` items, the first `identical` tied as identical responses, the rest judged
  (candidate wins); then the first judge games made parse errors, the next ones failures."""
  vs = []
  for i in range(items):
    if i < identical:
      vs += item(f"{i:02d}", "en", V.TIE, V.TIE, source=protocol.IDENTICAL, raw=None, run=run)
    else:
      vs += item(f"{i:02d}", "en", V.A, V.B, run=run)
  judged = [n for n, v in enumerate(vs) if v.source == protocol.JUDGE]
  for n in judged[:parse_errors]:
    vs[n] = gv(vs[n].id, "en", vs[n].candidate_slot, None, error="parse: no verdict tag",
               raw="Both are fine.", run=run)
  for n in judged[parse_errors:parse_errors + failures]:
    vs[n] = gv(vs[n].id, "en", vs[n].candidate_slot, None, error="gave up", raw=None, run=run)
  return vs


def assess(vs):
  return scoring.score(vs, n_boot=10)["health"]


@pytest.mark.parametrize("parse_errors, failures, reliable", [
    (4, 0, True),  # 4% of 100 judge calls
    (5, 0, True),  # at the limit: not above it
    (6, 0, False),
    (3, 3, False),  # failed calls count with parse errors
    (0, 6, False),
])
def test_error_rate_threshold_edges(parse_errors, failures, reliable):
  h = assess(judging(parse_errors=parse_errors, failures=failures))
  assert h["judge_games"] == 100
  assert h["parse_error_rate"] == pytest.approx(parse_errors / 100)
  assert h["failure_rate"] == pytest.approx(failures / 100)
  assert h["error_rate"] == pytest.approx((parse_errors + failures) / 100)
  assert h["reliable"] is reliable
  if not reliable:
    assert h["reasons"] == [
        f"unreadable or failed judge output in {parse_errors + failures:.1f}% of 100 judge "
        f"calls ({parse_errors} parse errors, {failures} failed calls; limit 5.0%)"]


@pytest.mark.parametrize("identical, reliable", [(25, True), (26, False), (50, False)])
def test_mostly_identical_pairs_are_unreliable(identical, reliable):
  h = assess(judging(identical=identical))
  assert h["identical_share"] == pytest.approx(identical / 50)
  assert h["reliable"] is reliable
  assert h["reasons"] == ([] if reliable else [
      f"{2 * identical:.1f}% of pairs tied as identical responses without a judge call "
      "(limit 50.0%)"])


def test_a_model_against_itself_ties_by_construction():
  h = assess(judging(identical=50, run="base"))  # candidate run = baseline run
  assert h["identical_share"] == 1.0 and h["reliable"] and h["self_comparison"]
  assert health.verdict(h) == "yes (judged against itself: ties by construction)"


def test_position_and_slot_rates_are_carried():
  vs = item("1", "en", V.A, V.A) + item("2", "en", V.A, V.B) + item("3", "en", V.B, V.A)
  h = assess(vs)
  assert h["position_consistency"] == pytest.approx(2 / 3)  # items 2 and 3 agree
  assert h["first_slot_preference"] == pytest.approx(4 / 6)


def test_thresholds_are_gin_bindings():
  vs = judging(parse_errors=6, identical=30)
  assert not assess(vs)["reliable"]
  gin.bind_parameter("judge_health.max_error_rate", 0.2)
  gin.bind_parameter("judge_health.max_identical_share", 0.7)
  h = assess(vs)
  assert h["reliable"] and (h["max_error_rate"], h["max_identical_share"]) == (0.2, 0.7)


def test_ties_without_a_readable_verdict_score_50_but_are_unreliable():
  # The reported failure: every judge call unreadable, a few identical pairs tied, and the
  # cell reads 50.0 [50, 50].
  s = scoring.score(judging(items=20, identical=4, parse_errors=32), n_boot=50)
  assert s["per_language"]["en"]["score"] == 50.0 and s["per_language"]["en"]["ci"] == [50, 50]
  h = s["health"]
  assert h["parse_error_rate"] == 1.0 and not h["reliable"]
  assert "judge reliable: no: unreadable or failed judge output in 100.0% of 32" in table.render(s)


def test_judge_command_reports_health(tmp_path, capsys):
  n = 20
  gen = lambda run, response: [  # noqa: E731
      {"id": str(i), "lang": "en", "instruction": f"q{i}", "response": response(i), "run": run}
      for i in range(n)]
  generations.write(str(tmp_path / "base.jsonl"), gen("base", lambda i: f"poor {i}"))
  # 1 of 20 pairs unreadable: 2 of 40 calls (5%, kept); 2 failed calls more: 10%.
  generations.write(str(tmp_path / "cand.jsonl"), gen("cand", lambda i: (
      f"{UNREADABLE} {i}" if i == 0 else f"{DOWN} {i}" if i == 1 else f"good {i}")))
  judge_file = tmp_path / "scripted.gin"
  judge_file.write_text("judge_run.backend = @ScriptedBackend()\n")

  def run(*extra):
    return cli.main(["judge", "--candidate", str(tmp_path / "cand.jsonl"), "--baseline",
                     str(tmp_path / "base.jsonl"), "--judge", str(judge_file), "--out",
                     str(tmp_path / "out"), "--gin.judge_run.n_boot=20", *extra])

  assert run() == 0
  h = json.loads((tmp_path / "out" / "scores.json").read_text())["health"]
  assert (h["parse_error_rate"], h["failure_rate"], h["reliable"]) == (0.05, 0.05, False)
  assert "judge reliable: no: unreadable or failed judge output in 10.0% of 40" in (
      capsys.readouterr().out)
  gin.clear_config()
  assert run("--gin.judge_health.max_error_rate=0.1") == 0
  assert json.loads((tmp_path / "out" / "scores.json").read_text())["health"]["reliable"]
  assert "judge reliable: yes" in capsys.readouterr().out


@pytest.mark.parametrize("judge", ["verifiable", "toyworld"])
def test_checker_judges_trust_identical_ties(judge):
  # A checker would tie two identical responses itself; its read errors still count.
  cli.parse_gin([f"gin/judges/{judge}.gin"], [])
  assert assess(judging(identical=40))["reliable"]
  assert not assess(judging(identical=40, parse_errors=2))["reliable"]  # 2 of 20 calls
