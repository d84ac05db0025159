"""judge_pairs: games built, shortcuts taken, verifiable backend, cache survives a kill."""
import pytest

from pinchjax.judge import cache as cache_lib
from pinchjax.judge import judge_pairs, score
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base
from pinchjax.judge.backends.verifiable import VerifiableBackend
from test_judge_fidelity import RESPONSES


def rec(id_, lang, response, run, answer=None):
  r = {"id": id_, "lang": lang, "instruction": f"question {id_} ({lang})",
       "response": response, "run": run, "decode_config": {"temperature": 0}}
  if answer is not None:
    r["answer"] = answer
  return r


class Scripted(base.Backend):
  """Prefers the longer response; records every game it is asked; can die after k."""

  def __init__(self, die_after=None, judge_id="scripted"):
    self.asked, self.die_after, self._id = [], die_after, judge_id

  @property
  def judge_id(self):
    return self._id

  def params(self):
    return {"temperature": 0.0}

  def judge(self, games, prompt, on_answer):
    for i, g in enumerate(games):
      if self.die_after is not None and len(self.asked) >= self.die_after:
        raise KeyboardInterrupt  # a killed run
      self.asked.append(g.key)
      raw = "[[A]]" if len(g.response_a) > len(g.response_b) else "[[B]]"
      p = V.parse(raw, prompt.scale)
      on_answer(i, base.Answer(raw, p.verdict, p.strength, p.error))


def test_verifiable_backend_scores_right_answers_in_the_right_language():
  def checker(record, response):
    return response == record["answer"]

  cands = [rec(str(i), "en", "yes" if i < 6 else "no", "cand", "yes") for i in range(8)]
  bases = [rec(str(i), "en", "yes" if i % 2 else "no", "base", "yes") for i in range(8)]
  vs = judge_pairs(cands, bases, VerifiableBackend(checker), progress=False)
  assert len(vs) == 16 and [v.candidate_slot for v in vs[:2]] == ["A", "B"]
  # Items 1, 3, 5: both right, identical -> tie (no check); 0, 2, 4: candidate only -> win;
  # 6: both wrong, identical -> tie; 7: baseline only -> loss.
  s = score(vs, n_boot=50)
  assert s["per_language"]["en"]["wins"] == 3
  assert s["per_language"]["en"]["ties"] == 4
  assert s["per_language"]["en"]["losses"] == 1
  assert s["per_language"]["en"]["score"] == pytest.approx(100 * (3 + 2) / 8)
  assert s["diagnostics"]["identical_games"] == 8
  assert s["diagnostics"]["position_consistency"] == 1.0
  assert s["judge_id"] == "verifiable:test_judge_runner.test_verifiable_backend_scores_right_" \
                          "answers_in_the_right_language.<locals>.checker"


def test_identical_and_wrong_language_games_are_settled_without_the_judge():
  cands = [rec("1", "fi", RESPONSES["fi"], "cand"), rec("2", "fi", RESPONSES["en"], "cand"),
           rec("3", "fi", RESPONSES["en"], "cand"), rec("4", "fi", RESPONSES["fi"], "cand")]
  bases = [rec("1", "fi", RESPONSES["fi"], "base"), rec("2", "fi", RESPONSES["fi"], "base"),
           rec("3", "fi", RESPONSES["en"] + " Also.", "base"),
           rec("4", "fi", RESPONSES["fi"] + " Hyvää yötä.", "base")]
  backend = Scripted()
  vs = judge_pairs(cands, bases, backend, wrong_language_loses=True, progress=False)
  sources = [v.source for v in vs]
  assert sources == ["identical"] * 2 + ["language"] * 4 + ["judge"] * 2
  assert len(backend.asked) == 2  # only item 4 reached the judge, in both orders
  assert [v.outcome for v in vs] == [0, 0, -1, -1, 0, 0, -1, -1]
  s = score(vs, n_boot=50)
  assert s["per_language"]["fi"]["score"] == pytest.approx(100 * (0.5 + 0 + 0.5 + 0) / 4)
  assert s["fidelity"]["candidate"]["per_language"]["fi"]["share"] == 0.5
  assert s["fidelity"]["baseline"]["per_language"]["fi"]["share"] == 0.75
  # Without the rule the judge sees every non-identical item.
  backend = Scripted()
  judge_pairs(cands, bases, backend, progress=False)
  assert len(backend.asked) == 6


def test_cache_rerun_after_kill_asks_nothing_twice(tmp_path):
  db = str(tmp_path / "judge.db")
  cands = [rec(str(i), "en", "x" * (i + 1), "cand") for i in range(10)]
  bases = [rec(str(i), "en", "y" * 5, "base") for i in range(10)]
  # Item 4 has equal lengths but different text: still judged. 20 distinct games.
  killed = Scripted(die_after=7)
  with pytest.raises(KeyboardInterrupt):
    judge_pairs(cands, bases, killed, cache=db, progress=False)
  with cache_lib.Cache(db) as c:
    assert len(c) == 7
  rerun = Scripted()
  vs = judge_pairs(cands, bases, rerun, cache=db, progress=False)
  assert len(rerun.asked) == 13
  assert not set(killed.asked) & set(rerun.asked)
  assert sum(v.cached for v in vs) == 7
  third = Scripted()
  again = judge_pairs(cands, bases, third, cache=db, progress=False)
  assert third.asked == [] and all(v.cached for v in again)
  assert [v.verdict for v in again] == [v.verdict for v in vs]
  # Another prompt or judge is another question.
  other = Scripted(judge_id="another")
  judge_pairs(cands, bases, other, cache=db, progress=False)
  assert len(other.asked) == 20
  other_prompt = Scripted()
  judge_pairs(cands, bases, other_prompt, prompt="sxs5-v1", cache=db, progress=False)
  assert len(other_prompt.asked) == 20


def test_identical_questions_are_asked_once():
  # Two ids with the same instruction and responses: the same two questions.
  cands = [dict(rec(i, "en", "long answer", "cand"), instruction="q") for i in ("1", "2")]
  bases = [dict(rec(i, "en", "short", "base"), instruction="q") for i in ("1", "2")]
  backend = Scripted()
  vs = judge_pairs(cands, bases, backend, progress=False)
  assert len(backend.asked) == 2
  assert [v.outcome for v in vs] == [1, 1, 1, 1]


def test_unreadable_answers_are_cached_failed_calls_are_not(tmp_path):
  class Flaky(Scripted):
    def judge(self, games, prompt, on_answer):
      for i, g in enumerate(games):
        self.asked.append(g.key)
        if g.response_a == "fail" or g.response_b == "fail":
          on_answer(i, base.Answer(None, None, error="gave up after 5 attempts"))
        else:
          on_answer(i, base.Answer("no idea", None, error="parse: no verdict tag"))

  db = str(tmp_path / "judge.db")
  cands = [rec("1", "en", "a", "cand"), rec("2", "en", "fail", "cand")]
  bases = [rec("1", "en", "b", "base"), rec("2", "en", "c", "base")]
  judge_pairs(cands, bases, Flaky(), cache=db, progress=False)
  rerun = Flaky()
  vs = judge_pairs(cands, bases, rerun, cache=db, progress=False)
  assert len(rerun.asked) == 2  # only item 2's failed games are retried
  d = score(vs, n_boot=10)["diagnostics"]
  assert (d["parse_errors"], d["failures"], d["cached_games"]) == (2, 2, 2)


def test_pairing_errors_name_the_records():
  cands = [rec("1", "en", "a", "cand"), rec("2", "en", "a", "cand")]
  with pytest.raises(ValueError, match="1 of 2 candidate records have no baseline.*en/2"):
    judge_pairs(cands, [rec("1", "en", "b", "base")], Scripted(), progress=False)
  other = [rec("1", "en", "b", "base"), dict(rec("2", "en", "b", "base"), instruction="?")]
  with pytest.raises(ValueError, match="different instructions"):
    judge_pairs(cands, other, Scripted(), progress=False)
  with pytest.raises(ValueError, match="missing key 'response'"):
    judge_pairs([{"id": "1", "lang": "en", "instruction": "q", "run": "c"}], other,
                Scripted(), progress=False)


def test_a_backend_that_loses_games_is_an_error():
  class Lossy(Scripted):
    def judge(self, games, prompt, on_answer):
      on_answer(0, base.Answer("[[A]]", "A", 1))

  cands = [rec("1", "en", "a", "cand"), rec("2", "en", "b", "cand")]
  bases = [rec("1", "en", "c", "base"), rec("2", "en", "d", "base")]
  with pytest.raises(RuntimeError, match="answered 1 of 4 games"):
    judge_pairs(cands, bases, Lossy(), progress=False)
