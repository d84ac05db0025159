"""`pinchjax judge` end to end with the verifiable judge: files in, verdicts/scores/table out."""
import json

import gin
import pytest

from pinchjax import cli
from pinchjax.data import generations


@gin.register
def checker(record, response):
  return response == f"answer {record['id']}"


def write_runs(tmp_path):
  ids = [str(i) for i in range(10)]

  def gen(run, right, lang):
    return [{"id": i, "lang": lang, "instruction": f"q{i}", "response":
             f"answer {i}" if int(i) in right else f"wrong {run}", "run": run,
             "decode_config": {"max_new_tokens": 8}} for i in ids]

  cand = gen("cand", range(8), "en") + gen("cand", range(2), "fi")
  base = gen("base", range(5), "en") + gen("base", range(6), "fi")
  refs = [{k: v for k, v in r.items() if k not in ("run", "decode_config")}
          for r in gen("x", range(10), "en") + gen("x", range(10), "fi")]
  for name, rows in (("cand", cand), ("base", base), ("refs", refs)):
    generations.write(str(tmp_path / f"{name}.jsonl"), rows)


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def run_cli(*args):
  return cli.main(["judge", *args, "--judge", "verifiable",
                   f"--gin.VerifiableBackend.checker=@{__name__}.checker", "--gin.judge_run.n_boot=200"])


def test_judge_command_writes_verdicts_scores_and_table(tmp_path, capsys):
  write_runs(tmp_path)
  out = tmp_path / "out"
  assert run_cli("--candidate", str(tmp_path / "cand.jsonl"), "--baseline",
                 str(tmp_path / "base.jsonl"), "--out", str(out)) == 0
  scores = json.loads((out / "scores.json").read_text())
  # en: candidate right on 0-7, baseline on 0-4 -> 3 wins, 7 ties. fi: 2 vs 6 -> 4 losses.
  assert scores["per_language"]["en"]["score"] == pytest.approx(100 * (3 + 3.5) / 10)
  assert scores["per_language"]["fi"]["score"] == pytest.approx(100 * 3 / 10)
  assert scores["macro"]["score"] == pytest.approx((65 + 30) / 2)
  assert scores["n_boot"] == 200 and scores["judge_id"].startswith("verifiable:")
  lines = (out / "verdicts.jsonl").read_text().splitlines()
  assert len(lines) == 40
  first = json.loads(lines[0])
  assert first["prompt_id"] == "sxs-v1" and len(first["prompt_hash"]) == 16
  table = capsys.readouterr().out
  assert "cand vs base" in table
  assert "en" in table and "65.0" in table and "3/7/0" in table and "macro" in table


@pytest.mark.parametrize("how", ["flag", "binding"])
def test_judge_against_references(tmp_path, how):
  write_runs(tmp_path)
  out = tmp_path / "out"
  refs = str(tmp_path / "refs.jsonl")
  # --references is an alias of the binding: either one names the references.
  against = (["--references", refs] if how == "flag"
             else [f"--gin.judge_run.references='{refs}'"])
  assert run_cli("--candidate", str(tmp_path / "cand.jsonl"), *against, "--out", str(out)) == 0
  scores = json.loads((out / "scores.json").read_text())
  assert scores["baseline_run"] == "references"
  assert scores["per_language"]["en"]["score"] == pytest.approx(100 * 8 * 0.5 / 10)


def test_unknown_judge_and_missing_baseline_fail(tmp_path, capsys):
  with pytest.raises(SystemExit):
    cli.main(["judge", "--candidate", "c.jsonl", "--baseline", "b.jsonl", "--out", "o",
              "--judge", "no_such_judge"])
  assert "known judges" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(["judge", "--candidate", "c.jsonl", "--out", "o"])


def test_toyworld_judge_file_parses():
  from pinchjax.judge import cli as judge_cli
  judge_cli._judge_file("toyworld")
  from pinchjax.data.toyworld import checkers
  from pinchjax.judge.backends.verifiable import VerifiableBackend
  # gin references to the toy world's functions, not strings naming them
  assert gin.query_parameter("judge_run.language_of").configurable.wrapped is checkers.identify
  assert gin.query_parameter("VerifiableBackend.checker").configurable.wrapped is checkers.check
  assert VerifiableBackend().judge_id == "verifiable:pinchjax.data.toyworld.checkers.check"


def test_toyworld_judge_end_to_end(tmp_path):
  from pinchjax.data.toyworld import sentences, tasks
  items = tasks.split_items(seed=0, list_items=10)["eval"][:20]
  refs, cands = [], []
  for lang, other in (("fi", "zh"), ("zh", "ar")):
    for n, fact in enumerate(items):
      ref = tasks.record(fact, lang).to_json()
      refs.append(ref)
      answer = sentences.response(fact, lang if n < 15 else other)  # 5 in another language
      cands.append(dict(ref, response=answer, run="toy_p10", decode_config={}))
  generations.write(str(tmp_path / "refs.jsonl"), refs)
  generations.write(str(tmp_path / "cand.jsonl"), cands)
  assert cli.main(["judge", "--candidate", str(tmp_path / "cand.jsonl"), "--references",
                   str(tmp_path / "refs.jsonl"), "--out", str(tmp_path / "out"), "--judge",
                   "toyworld", "--gin.judge_run.n_boot=100"]) == 0
  scores = json.loads((tmp_path / "out" / "scores.json").read_text())
  for lang in ("fi", "zh"):
    # 15 answers equal the reference (ties), 5 in the wrong language lose.
    assert scores["per_language"][lang]["score"] == pytest.approx(100 * 7.5 / 20)
    assert scores["fidelity"]["candidate"]["per_language"][lang]["share"] == 0.75
    assert scores["fidelity"]["baseline"]["per_language"][lang]["share"] == 1.0
  assert scores["fidelity"]["candidate"]["per_language"]["fi"]["detected"] == {"fi": 15, "zh": 5}


def test_missing_required_judge_settings_are_named(tmp_path):
  write_runs(tmp_path)
  args = ["judge", "--candidate", str(tmp_path / "cand.jsonl"), "--baseline",
          str(tmp_path / "base.jsonl"), "--out", str(tmp_path / "out")]
  with pytest.raises(RuntimeError, match=r"ClientConfig.*\['base_url', 'model'\]"):
    cli.main(args + ["--judge", "openai_compatible"])
  gin.clear_config()
  with pytest.raises(RuntimeError, match=r"VerifiableBackend.*\['checker'\]"):
    cli.main(args + ["--judge", "verifiable"])
