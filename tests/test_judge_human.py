"""Human evaluation: export a rating package from judged runs, simulated raters fill it,
import-human reads it back and measures agreement with the judge."""
import csv
import json
import random

import gin
import numpy as np
import pytest

from pinchjax import cli
from pinchjax import atomic_file
from pinchjax.data import generations
from pinchjax.judge import agreement, human_export, human_import, records

CAND_RUN, BASE_RUN = "alpha-7b", "beta-13b"
WORDS = ["river", "stone", "cloud", "lamp", "garden", "window", "bread", "music"]


@gin.register  # judge files name it: VerifiableBackend.checker = @test_judge_human.checker
def checker(record, response):
  return response.startswith("good")


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def response(rng, good):
  return ("good " if good else "poor ") + " ".join(rng.choices(WORDS, k=rng.randint(2, 30)))


def judged(tmp_path, n=60, langs=("en", "fi"), identical=0, seed=0):
  """Judge directories (one per language) of the verifiable judge: a "good" response beats
  a "poor" one, two of a kind tie. The first `identical` items have equal responses."""
  rng = random.Random(seed)
  dirs = {}
  for lang in langs:
    cands, bases = [], []
    for i in range(n):
      inst = f"instruction {lang} {i}"
      c = response(rng, rng.random() < 0.6)
      b = c if i < identical else response(rng, rng.random() < 0.4)
      for rows, run, text in ((cands, CAND_RUN, c), (bases, BASE_RUN, b)):
        rows.append({"id": str(i), "lang": lang, "instruction": inst, "response": text,
                     "run": run, "decode_config": {}})
    generations.write(str(tmp_path / f"cand_{lang}.jsonl"), cands)
    generations.write(str(tmp_path / f"base_{lang}.jsonl"), bases)
    out = tmp_path / f"judged_{lang}"
    assert cli.main(["judge", "--candidate", str(tmp_path / f"cand_{lang}.jsonl"),
                     "--baseline", str(tmp_path / f"base_{lang}.jsonl"), "--out", str(out),
                     "--judge", "verifiable",
                     f"--gin.VerifiableBackend.checker=@{__name__}.checker",
                     "--gin.judge_run.n_boot=10"]) == 0
    dirs[lang] = str(out)
    gin.clear_config()
  return dirs


def export(dirs, out, **kwargs):
  return human_export.export([human_export.judged_dir(d) for d in dirs.values()], str(out),
                             **kwargs)


def read_csv(path):
  with open(path, encoding="utf-8-sig", newline="") as f:
    return list(csv.DictReader(f))


def write_csv(path, rows):
  with open(path, "w", encoding="utf-8-sig", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


# --- the package ---------------------------------------------------------------------------

def test_package_is_stratified_and_hides_the_runs(tmp_path):
  dirs = judged(tmp_path, n=60, identical=5)
  key = export(dirs, tmp_path / "pkg", per_language=20, seed=3)
  sample = {"en": {"candidate": 8, "tie": 7, "baseline": 5},
            "fi": {"candidate": 7, "tie": 7, "baseline": 6}}
  assert key["sampling"]["en"]["population"]["baseline"] == 5
  for lang, d in dirs.items():
    scores = json.loads(open(f"{d}/scores.json").read())["per_language"][lang]
    s = key["sampling"][lang]
    # The population is the judge's W/T/L less the 5 identical pairs (ties nobody judged).
    assert s["population"] == {"candidate": scores["wins"], "tie": scores["ties"] - 5,
                               "baseline": scores["losses"]}
    assert s["settled_without_judge"] == 5
    # Equal allocation of 20: 7/7/6 when every label has enough pairs (fi); en has only 5
    # losses, which all go in, and their shortfall goes to the first label.
    assert s["sample"] == sample[lang]
    keyed = [k for k in key["items"] if k["lang"] == lang]
    assert {l: sum(k["judge"] == l for k in keyed) for l in agreement.LABELS} == s["sample"]
    assert len({k["id"] for k in keyed}) == 20
    assert all(int(k["id"]) >= 5 for k in keyed)  # no identical pair is sampled
  rows = read_csv(tmp_path / "pkg" / "raters" / "items.csv")
  assert list(rows[0]) == list(human_export.COLUMNS)
  assert [r["item_id"] for r in rows] == [k["item_id"] for k in key["items"]]
  assert all(r["label"] == "" for r in rows)
  raters_text = "".join(open(tmp_path / "pkg" / "raters" / n, encoding="utf-8").read()
                        for n in ("items.csv", "items.jsonl", "README.md"))
  assert CAND_RUN not in raters_text and BASE_RUN not in raters_text
  jsonl = [obj for _, obj in records.iter_jsonl(str(tmp_path / "pkg" / "raters" / "items.jsonl"))]
  assert [{c: r[c] for c in human_export.COLUMNS} for r in rows] == jsonl
  # Both orders are used: the candidate is shown as A for some pairs and as B for others.
  shown_a = sum(k["a"] == agreement.CANDIDATE for k in key["items"])
  assert 8 <= shown_a <= 32


def test_allocation_gives_short_strata_all_they_have():
  assert human_export.allocate({"candidate": 50, "tie": 3, "baseline": 50}, 30) == {
      "candidate": 14, "tie": 3, "baseline": 13}
  assert human_export.allocate({"candidate": 4, "tie": 0, "baseline": 2}, 30) == {
      "candidate": 4, "tie": 0, "baseline": 2}
  assert human_export.allocate({"candidate": 9, "tie": 9, "baseline": 9}, 4) == {
      "candidate": 2, "tie": 1, "baseline": 1}


def test_same_seed_same_files_other_seed_other_sample(tmp_path):
  dirs = judged(tmp_path, n=60)
  files = {}
  for name, seed in (("a", 1), ("b", 1), ("c", 2)):
    export(dirs, tmp_path / name, per_language=15, seed=seed)
    files[name] = [open(tmp_path / name / p, encoding="utf-8").read()
                   for p in ("raters/items.csv", "raters/items.jsonl", "key.json")]
  assert files["a"] == files["b"]
  key_a = json.loads(files["a"][2])
  key_c = json.loads(files["c"][2])
  assert ({(k["lang"], k["id"]) for k in key_a["items"]}
          != {(k["lang"], k["id"]) for k in key_c["items"]})


# --- round trip ----------------------------------------------------------------------------

def test_rater_preferring_longer_responses_is_mapped_back_to_the_right_run(tmp_path):
  dirs = judged(tmp_path, n=80)
  export(dirs, tmp_path / "pkg", per_language=40, seed=0)
  rows = read_csv(tmp_path / "pkg" / "raters" / "items.csv")
  for r in rows:  # the rater sees only the shuffled file
    a, b = len(r["response_a"]), len(r["response_b"])
    r["label"] = "tie" if a == b else ("a" if a > b else "B")  # any case is accepted
  write_csv(tmp_path / "longer.csv", rows)
  summary = human_import.run(str(tmp_path / "pkg" / "key.json"),
                             [("longer", str(tmp_path / "longer.csv"))], n_boot=50)
  assert summary["labels_read"] == 80
  # Truth from the generations themselves, not the key: which run wrote the longer response.
  gens = {(r["lang"], r["id"], r["run"]): r["response"]
          for lang in dirs for name in ("cand", "base")
          for r in generations.read(str(tmp_path / f"{name}_{lang}.jsonl"))}
  key = {k["item_id"]: k for k in json.load(open(tmp_path / "pkg" / "key.json"))["items"]}
  labels = [obj for _, obj in records.iter_jsonl(str(tmp_path / "pkg" / "labels.jsonl"))]
  assert len(labels) == 80
  for label in labels:
    k = key[label["item_id"]]
    c = len(gens[(k["lang"], k["id"], CAND_RUN)])
    b = len(gens[(k["lang"], k["id"], BASE_RUN)])
    assert label["label"] == ("tie" if c == b else "candidate" if c > b else "baseline")
  assert {l["slot_label"] for l in labels} >= {"A", "B"}


def simulated_rater(judge_label, p, rng):
  """Agrees with the judge with probability p, else picks one of the other labels."""
  if rng.random() < p:
    return judge_label
  return rng.choice([l for l in agreement.LABELS if l != judge_label])


def test_simulated_raters_through_files(tmp_path, capsys):
  """Two raters (p = 0.8 each) fill the CSV and the JSONL of 300 pairs per language."""
  dirs = judged(tmp_path, n=420)
  export(dirs, tmp_path / "pkg", per_language=300, seed=0)
  key = {k["item_id"]: k for k in json.load(open(tmp_path / "pkg" / "key.json"))["items"]}
  to_slot = {}
  for item_id, k in key.items():
    other = "baseline" if k["a"] == "candidate" else "candidate"
    to_slot[item_id] = {k["a"]: "A", other: "B", "tie": "tie"}
  rng = random.Random(7)
  csv_rows = read_csv(tmp_path / "pkg" / "raters" / "items.csv")
  for r in csv_rows:
    r["label"] = to_slot[r["item_id"]][simulated_rater(key[r["item_id"]]["judge"], 0.8, rng)]
  write_csv(tmp_path / "ann.csv", csv_rows)
  jsonl_rows = [obj for _, obj in
                records.iter_jsonl(str(tmp_path / "pkg" / "raters" / "items.jsonl"))]
  for r in jsonl_rows:
    r["rater"] = "bo"  # the rater column names this file's rater
    r["label"] = to_slot[r["item_id"]][simulated_rater(key[r["item_id"]]["judge"], 0.8, rng)]
  atomic_file.write_jsonl(str(tmp_path / "bo.jsonl"), jsonl_rows)
  assert cli.main(["judge", "import-human", "--key", str(tmp_path / "pkg" / "key.json"),
                   f"ann={tmp_path / 'ann.csv'}", str(tmp_path / "bo.jsonl"),
                   "--n-boot", "500"]) == 0
  summary = json.load(open(tmp_path / "pkg" / "agreement.json"))
  for lang in ("en", "fi"):
    s = summary["per_language"][lang]
    assert s["raters"] == ["ann", "bo"] and s["rated_pairs"] == 300
    jh, hh = s["judge_human"], s["human_human"]
    assert jh["votes"] == 600 and hh["votes"] == 300
    # Balanced judge labels and symmetric errors: every label's share is 1/3 on both sides,
    # so kappa = (p_o - 1/3) / (2/3). Judge-human p_o = 0.8 -> kappa 0.7; two raters agree
    # with p_o = 0.8^2 + 0.2^2 / 2 = 0.66 -> kappa 0.49.
    for d, p_o, kappa, wrong in ((jh, 80, 0.7, 70), (hh, 66, 0.49, 80)):
      lo, hi = d["agreement_ci"]
      assert lo <= p_o <= hi and not lo <= wrong <= hi
      assert abs(d["agreement"] - p_o) < 6
      lo, hi = d["kappa_ci"]
      assert lo <= kappa <= hi and not lo <= kappa - 0.2 <= hi
  assert "judge-human" in capsys.readouterr().out


def test_agreement_statistics_recover_a_known_rater():
  rng = random.Random(1)
  items = []
  for n in range(400):
    judge = agreement.LABELS[n % 3]
    items.append(agreement.Rated(f"x{n}", "ru", judge, {"r": simulated_rater(judge, 0.8, rng)}))
  s = agreement.summarize(items, n_boot=1000)["per_language"]["ru"]
  jh = s["judge_human"]
  assert jh["agreement_ci"][0] <= 80 <= jh["agreement_ci"][1]
  assert not jh["agreement_ci"][0] <= 70 <= jh["agreement_ci"][1]
  assert jh["kappa_ci"][0] <= 0.7 <= jh["kappa_ci"][1]
  assert jh["kappa_ci"][1] < 0.8 and jh["kappa_ci"][0] > 0.55
  # Without ties: the votes where neither side says tie; agreement there is higher than with
  # ties (a decisive error can land on the tie).
  decisive = [i for i in items if "tie" not in (i.judge, i.humans["r"])]
  assert jh["votes_without_ties"] == len(decisive)
  expected = 100 * np.mean([i.judge == i.humans["r"] for i in decisive])
  assert jh["agreement_without_ties"] == pytest.approx(expected)
  assert s["human_human"] is None  # one rater: no human-human numbers


def test_kappa_matches_the_textbook_example():
  # Cohen's kappa on a 2-label table [[20, 5], [10, 15]]: p_o = 0.7, p_e = 0.5, kappa = 0.4.
  items = [agreement.Rated(str(n), "en", j, {"h": h}) for n, (j, h) in enumerate(
      [("candidate", "candidate")] * 20 + [("candidate", "baseline")] * 5
      + [("baseline", "candidate")] * 10 + [("baseline", "baseline")] * 15)]
  jh = agreement.compare(items, "judge_human", "en", n_boot=100)
  assert jh["agreement"] == pytest.approx(70)
  assert jh["kappa"] == pytest.approx(0.4)


# --- bad input -----------------------------------------------------------------------------

def test_bad_rows_are_all_named(tmp_path):
  dirs = judged(tmp_path, n=30, langs=("en",))
  export(dirs, tmp_path / "pkg", per_language=10, seed=0)
  rows = read_csv(tmp_path / "pkg" / "raters" / "items.csv")
  for r in rows:
    r["label"] = "A"
  rows[2]["label"] = "maybe"
  rows[4]["item_id"] = "en-9999"
  rows[5]["language"] = "fi"
  rows[6]["label"] = ""  # unlabelled: counted, not an error
  rows.append(dict(rows[0], label="B"))  # a second label of en-0001 by the same rater
  write_csv(tmp_path / "ann.csv", rows)
  jsonl = [obj for _, obj in records.iter_jsonl(str(tmp_path / "pkg" / "raters" / "items.jsonl"))]
  jsonl[1]["label"] = "C"
  atomic_file.write_jsonl(str(tmp_path / "bo.jsonl"), jsonl[:3])
  key = str(tmp_path / "pkg" / "key.json")
  with pytest.raises(ValueError) as e:
    human_import.run(key, [("ann", str(tmp_path / "ann.csv")), ("bo", str(tmp_path / "bo.jsonl"))])
  msg = str(e.value)
  ann, bo = tmp_path / "ann.csv", tmp_path / "bo.jsonl"
  assert msg.startswith("5 bad rows")
  assert f"{ann} row 4: label 'maybe' is not one of A, B, tie" in msg
  assert f"{ann} row 6: item_id 'en-9999' is not in the key" in msg
  assert f"{ann} row 7: language 'fi' but item en-0006 is 'en'" in msg
  assert f"{ann} row 12: rater 'ann' already labelled en-0001 at {ann} row 2" in msg
  assert f"{bo}:2: label 'C' is not one of A, B, tie" in msg
  with pytest.raises(ValueError, match=r"row 2: no rater"):
    human_import.read_labels([(None, str(ann))], json.load(open(key)))
  # Fixed, the unlabelled row is counted for its rater.
  rows = read_csv(tmp_path / "pkg" / "raters" / "items.csv")
  for r in rows:
    r["label"] = "tie"
  rows[6]["label"] = " "
  rows.append({c: "" for c in rows[0]})  # a blank row a spreadsheet left: skipped
  write_csv(tmp_path / "ann.csv", rows)
  summary = human_import.run(key, [("ann", str(ann))], n_boot=20)
  assert summary["unlabelled"] == {str(ann): {"ann": 1}} and summary["labels_read"] == 9
  assert summary["per_language"]["en"]["human_labels"] == {"candidate": 0, "tie": 9,
                                                           "baseline": 0}


def test_export_needs_judged_input(tmp_path):
  with pytest.raises(ValueError, match="no scores.json"):
    human_export.judged_dir(str(tmp_path))
  with pytest.raises(SystemExit):
    cli.main(["judge", "export-human", "--out", str(tmp_path / "pkg")])
  with pytest.raises(SystemExit):  # judging itself still needs its flags
    cli.main(["judge", "--candidate", "c.jsonl", "--out", "o"])
