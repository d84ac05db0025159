"""`pinchjax data ...` and `pinchjax vocab train`, run in-process through the entry point."""
import importlib
import json
import os

import gin
import pytest

import test_data_formats
from pinchjax import cli, languages
from pinchjax.data import canonical, synthetic
from pinchjax.data import generations


def _run(capsys, *argv):
  rc = cli.main(list(argv))
  out, err = capsys.readouterr()
  return rc, out, err


def test_import_writes_canonical_and_reports_skips(tmp_path, capsys):
  src = tmp_path / "alpaca.json"
  src.write_text(json.dumps([{"instruction": "Add", "input": "1+1", "output": "2"},
                             {"instruction": "", "output": "x"}]))
  out_path = tmp_path / "out" / "en.jsonl"
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      str(src), str(out_path))
  assert rc == 1 and "item 1: field 'instruction' is empty" in err and not out_path.exists()
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      "--on-error", "skip", str(src), str(out_path))
  report = json.loads(out)
  assert rc == 0 and report["written"] == 1 and report["skipped"]["total"] == 1
  assert "skipped 1 records" in err
  assert canonical.read_jsonl(str(out_path))[0].instruction == "Add\n\n1+1"
  # A translation must carry exactly the ids of the file it translates.
  other = tmp_path / "fi.jsonl"
  canonical.write_jsonl(str(other), [canonical.Record("zz", "fi", "a", "b", "s")])
  rc, _, err = _run(capsys, "data", "import", "--format", "canonical", "--lang", "fi",
                    "--align-with", str(out_path), str(other), str(tmp_path / "x.jsonl"))
  assert rc == 1 and "not aligned" in err


def test_vocab_train_stats_and_show(tmp_path, capsys):
  data = str(tmp_path)
  synthetic.write_parallel_set(data, "tcli", 120, languages.PAPER_LANGUAGES)
  rc, out, _ = _run(capsys, "vocab", "train", "--data-dir", data, "--dataset", "tcli",
                    "--vocab-size", "300", "--template", "toy", "--output", f"{data}/spm")
  made = json.loads(out)
  assert rc == 0 and made["vocab_size"] == 300 and made["texts"] == 2 * 12 * 120

  rc, out, _ = _run(capsys, "data", "stats", "--data-dir", data, "--mixture", "tcli_pinch_p10",
                    "--json")
  stats = json.loads(out)
  assert rc == 0 and stats["total"] == 120 and len(stats["languages"]) == 12
  assert stats["languages"]["en"] == 108 + 1  # 12 multilingual examples, one each
  assert abs(sum(stats["shares"].values()) - 1) < 1e-9

  rc, out, _ = _run(capsys, "data", "show", "--data-dir", data, "--mixture", "tcli_mono_fi",
                    "--vocab", f"{data}/spm.model", "--template", "toy", "-n", "2")
  assert rc == 0 and out.count("=== example") == 2
  assert "prompt text:   '<user> fi" in out and "<model>'" in out
  assert ":</s>*" in out  # EOS carries loss
  assert ":<user>*" not in out  # the prompt does not


def test_registration_from_flags_tolerates_only_the_same_definition(tmp_path, capsys):
  from pinchjax.data import registry  # pylint: disable=import-outside-toplevel
  vocab = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "toy_base", "vocab.model")
  data = str(tmp_path)
  flags = ["--data-dir", data, "--vocab", vocab, "--template", "toy", "--json"]
  # Registered beforehand exactly as the flags define it (as a gin configuration could):
  # registering it again is a no-op that keeps the registration.
  synthetic.write_parallel_set(data, "tsame", 40, languages.PAPER_LANGUAGES)
  same = registry.register_dataset("tsame", data, vocab, "toy")
  rc, out, _ = _run(capsys, "data", "stats", "--mixture", "tsame_pinch_p50", *flags)
  assert rc == 0 and json.loads(out)["total"] == 40
  assert registry._REGISTERED["tsame"][1] is same  # pylint: disable=protected-access

  # Registered beforehand otherwise (other mixtures): a real conflict, a one-line error, and
  # the registration is left alone (before, the flags silently replaced it).
  synthetic.write_parallel_set(data, "tother", 40, languages.PAPER_LANGUAGES)
  other = registry.register_dataset("tother", data, vocab, "toy", percents=[50])
  rc, _, err = _run(capsys, "data", "stats", "--mixture", "tother_pinch_p50", *flags)
  assert rc == 1 and err.count("\n") == 1
  assert f"--data-dir {data}: dataset 'tother' is already registered with another" in err
  assert registry._REGISTERED["tother"][1] is other  # pylint: disable=protected-access


def test_importing_tasks_without_data_registers_nothing_and_does_not_fail():
  tasks = importlib.import_module("tasks")
  assert tasks.registry.register_configured() == []


def test_build_paper_set_command(tmp_path, capsys):
  lima = tmp_path / "lima.jsonl"
  lima.write_text("".join(json.dumps({"conversations": [f"Q{i}", f"A{i}"]}) + "\n"
                          for i in range(4)))
  oasst = tmp_path / "oasst.jsonl"
  oasst.write_text("".join(
      json.dumps(m) + "\n" for i in range(3) for m in (
          {"message_id": f"p{i}", "parent_id": None, "role": "prompter", "text": f"P{i}",
           "lang": "en"},
          {"message_id": f"a{i}", "parent_id": f"p{i}", "role": "assistant", "text": f"R{i}",
           "lang": "en", "rank": 0})))
  out_path = tmp_path / "paper" / "train" / "en.jsonl"
  rc, out, _ = _run(capsys, "data", "build-paper-set", "--lima", str(lima), "--oasst",
                    str(oasst), "--n-lima", "2", "--n-oasst", "3", str(out_path))
  report = json.loads(out)
  assert rc == 0 and report["selected"] == {"lima": 2, "oasst": 3, "total": 5}
  assert [r.id for r in canonical.read_jsonl(str(out_path), lang="en")] == [
      "lima-0", "lima-1", "oasst-p0", "oasst-p1", "oasst-p2"]
  rc, _, err = _run(capsys, "data", "build-paper-set", "--lima", str(lima), "--oasst",
                    str(oasst), "--n-lima", "2", "--n-oasst", "4", str(out_path))
  assert rc == 1 and "3 usable distinct English OASST prompts, 4 needed" in err


@pytest.fixture
def clean_state(language_registry):
  """cli.main parses gin and registers languages process-wide: undo both."""
  return language_registry


def _lines(path, rows, bom=False):
  text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
  path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
  return str(path)


EN_PROMPTS = ["Write a short poem about the sea at night.",
              "Explain why the sky looks blue during the day.",
              "Give me three tips for learning to play the guitar.",
              "What is the difference between weather and climate?"]
DE_PROMPTS = ["Schreibe ein kurzes Gedicht über das Meer in der Nacht.",
              "Erkläre, warum der Himmel am Tag blau aussieht.",
              "Gib mir drei Tipps, wie man Gitarre spielen lernt.",
              "Was ist der Unterschied zwischen Wetter und Klima?"]


def test_import_json_with_a_field_map(tmp_path, capsys, clean_state):
  # {"id", "prompt"} prompts (an evaluation set), mapped by key.
  src = _lines(tmp_path / "prompts.jsonl",
               [{"id": f"q{i}", "prompt": p} for i, p in enumerate(EN_PROMPTS)])
  rc, out, _ = _run(capsys, "data", "import", "--format", "json", "--map",
                    "instruction=prompt,id=id", "--lang", "en", src, str(tmp_path / "a.jsonl"))
  assert rc == 0 and json.loads(out)["written"] == 4
  got = canonical.read_jsonl(str(tmp_path / "a.jsonl"), lang="en", require_response=False)
  assert [(r.id, r.instruction, r.response, r.source) for r in got[:1]] == [
      ("q0", EN_PROMPTS[0], "", "json")]
  # A JSON array with a BOM, nested turns by dotted path, ids from the item index.
  conv = tmp_path / "conv.json"
  conv.write_bytes(b"\xef\xbb\xbf" + json.dumps([
      {"conversation": [{"text": p}, {"text": f"Answer {i}."}], "meta": {"lang": "en"}}
      for i, p in enumerate(EN_PROMPTS)]).encode())
  rc, out, err = _run(capsys, "data", "import", "--format", "json", "--map",
                      "instruction=conversation.0.text,output=conversation.1.text,lang=meta.lang",
                      str(conv), str(tmp_path / "b.jsonl"))
  assert rc == 0, err
  got = canonical.read_jsonl(str(tmp_path / "b.jsonl"), lang="en")
  assert [(r.id, r.response) for r in got] == [(f"row-{i}", f"Answer {i}.") for i in range(4)]
  # A lang field that disagrees with --lang, and a missing mapped field, name item and field.
  rc, _, err = _run(capsys, "data", "import", "--format", "json", "--map",
                    "instruction=conversation.0.text,lang=meta.lang", "--lang", "fi", str(conv),
                    str(tmp_path / "c.jsonl"))
  assert rc == 1 and err.strip() == (f"error: {conv}:item 0: field 'lang' is 'en' but the "
                                     "file is for 'fi'")
  rc, _, err = _run(capsys, "data", "import", "--format", "json", "--map",
                    "instruction=conversation.2.text", "--lang", "en", str(conv),
                    str(tmp_path / "c.jsonl"))
  assert rc == 1 and "item 0: field 'instruction' is missing (mapped from " in err
  rc, _, err = _run(capsys, "data", "import", "--format", "json", "--map", "prompt=x",
                    "--lang", "en", str(conv), str(tmp_path / "c.jsonl"))
  assert rc == 1 and "unknown field 'prompt'" in err


def test_import_checks_the_majority_language(tmp_path, capsys, clean_state):
  de = _lines(tmp_path / "de.jsonl", [{"instruction": p, "output": "Gut."} for p in DE_PROMPTS]
              + [{"instruction": "Sort: 3 1 2", "output": "1 2 3"}])
  out_path = str(tmp_path / "out.jsonl")
  rc, _, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en", de, out_path)
  assert rc == 1 and err.count("\n") == 1
  assert (f"{de}: the file is imported as 'en' but its majority language is 'de' "
          "(100% of 4 records checked; 'en': 0%)") in err
  rc, _, _ = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                  "--no-lang-check", de, out_path)
  assert rc == 0
  # Short English texts: a vote over the records, not one guess per record, keeps them English.
  short = _lines(tmp_path / "short.jsonl", [{"instruction": t, "output": "ok"} for t in (
      "Hi", "Name a fruit", "Add two numbers", "Write a haiku", "Hola", "Tell me a joke")])
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en", short,
                      out_path)
  assert rc == 0, err
  # A language the identifier does not know is imported with a note, not refused.
  rc, out, err = _run(capsys, "--gin.register_all.languages=[('mi', 'Maori', 'Austronesian', "
                      "'Latin')]", "data", "import", "--format", "alpaca", "--lang", "mi", de,
                      out_path)
  assert rc == 0 and json.loads(out)["notes"] == [
      f"{de}: language not checked: the identifier does not know 'mi'"]


def test_languages_flag_registers_for_every_command(tmp_path, capsys, clean_state):
  de = _lines(tmp_path / "de.jsonl", [{"instruction": p, "output": "Gut."} for p in DE_PROMPTS])
  out_path = str(tmp_path / "de_out.jsonl")
  rc, _, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "de", de, out_path)
  assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
  assert err.startswith("error: unknown language code 'de'") and "--languages FILE" in err
  tsv = tmp_path / "langs.tsv"
  tsv.write_text("de\tGerman\tIndo-European\tLatin\n", encoding="utf-8")
  rc, out, err = _run(capsys, "data", "import", "--languages", str(tsv), "--format", "alpaca",
                      "--lang", "de", de, out_path)
  assert rc == 0 and json.loads(out)["written"] == 4 and json.loads(out)["notes"] == []
  assert [r.lang for r in canonical.read_jsonl(out_path)] == ["de"] * 4


def test_bad_bytes_bom_and_empty_input(tmp_path, capsys, clean_state):
  rows = [{"instruction": p, "output": "Sure."} for p in EN_PROMPTS]
  good = "".join(json.dumps(r) + "\n" for r in rows).encode()
  bad = tmp_path / "bad.jsonl"
  bad.write_bytes(b"\xef\xbb\xbf" + good.replace(b"sea", b"s\xe9a", 1))
  out_path = str(tmp_path / "out.jsonl")
  rc, _, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en", str(bad),
                    out_path)
  offset = 3 + good.index(b"sea") + 1
  assert rc == 1 and err == (f"error: {bad}:1: not valid UTF-8 at byte offset {offset} "
                             "(byte 0xe9: invalid continuation byte)\n")
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      "--on-error", "skip", str(bad), out_path)
  report = json.loads(out)
  assert rc == 0 and report["written"] == 3 and report["skipped"]["total"] == 1
  # A BOM before a JSON array, and bad bytes inside one item of it.
  arr = tmp_path / "arr.json"
  text = json.dumps(rows, indent=1).encode()
  arr.write_bytes(b"\xef\xbb\xbf" + text.replace(b"guitar", b"guit\xffr"))
  rc, out, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                      "--on-error", "skip", str(arr), out_path)
  assert rc == 0 and json.loads(out)["written"] == 3
  line = text[:text.index(b"guitar")].count(b"\n") + 1
  assert (f"(e.g. {arr}:item 2)" in err and
          f"not valid UTF-8 at byte offset {3 + text.index(b'guitar') + 4} (line {line}, "
          "byte 0xff)" in err)
  # Empty input is an error unless --allow-empty; so is a file whose every row is skipped.
  empty = tmp_path / "empty.jsonl"
  empty.write_bytes(b"\xef\xbb\xbf\n")
  rc, _, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en", str(empty),
                    out_path)
  assert rc == 1 and err == (f"error: {empty}: no records to write (the file has no rows); "
                             "pass --allow-empty to write an empty file\n")
  rc, out, _ = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en",
                    "--allow-empty", str(empty), str(tmp_path / "empty_out.jsonl"))
  assert rc == 0 and (tmp_path / "empty_out.jsonl").read_text() == ""


def test_filesystem_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, capsys,
                                                                     clean_state):
  src = _lines(tmp_path / "a.jsonl", [{"instruction": p, "output": "Sure."} for p in EN_PROMPTS])
  blocker = tmp_path / "blocker"
  blocker.write_text("a file")
  cases = [
      (str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl"),
       f"error: {tmp_path / 'missing.jsonl'}: No such file or directory\n"),
      (src, str(blocker / "sub" / "o.jsonl"),
       f"error: {blocker / 'sub'}: {blocker} is a file, not a directory\n"),
      (src, str(tmp_path), f"error: {tmp_path}: Is a directory\n"),
  ]
  for inp, out_path, expected in cases:
    rc, _, err = _run(capsys, "data", "import", "--format", "alpaca", "--lang", "en", inp,
                      out_path)
    assert (rc, err) == (1, expected)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "blocker"]  # no stray temp
  # Raised inside a gin configurable (register_all, judge_run): still the path and problem.
  rc, _, err = _run(capsys, "--languages", str(tmp_path / "langs.tsv"), "data", "import",
                    "--format", "alpaca", "--lang", "en", src, str(tmp_path / "o.jsonl"))
  assert (rc, err) == (1, f"error: {tmp_path / 'langs.tsv'}: No such file or directory\n")
  rc, _, err = _run(capsys, "--debug", "data", "import", "--format", "alpaca", "--lang", "en",
                    str(tmp_path / "missing.jsonl"), str(tmp_path / "o.jsonl"))
  assert rc == 1 and "Traceback (most recent call last)" in err and "FileNotFoundError" in err


def test_oasst_selection_flags_alias_gin_bindings(tmp_path, capsys, clean_state):
  msgs = [test_data_formats.oasst_msg("p1", None, "prompter", "Tell me about the moon."),
          test_data_formats.oasst_msg("a1", "p1", "assistant", "It orbits the Earth.", rank=0,
                                      synthetic=True)]
  src = _lines(tmp_path / "oasst.messages.jsonl", msgs)
  out_path = str(tmp_path / "o.jsonl")
  rc, _, err = _run(capsys, "data", "import", "--format", "oasst", "--lang", "en", src, out_path)
  assert rc == 1 and "no records to write (0 rows skipped, 2 not selected)" in err
  rc, out, _ = _run(capsys, "data", "import", "--format", "oasst", "--lang", "en",
                    "--keep-synthetic", src, out_path)
  assert rc == 0 and json.loads(out)["written"] == 1


@gin.register
def right_answer(record, response):
  """The deterministic judge's checker: an answer naming the instruction's id is right."""
  return response.startswith(f"Answer to {record['id']}")


def test_import_generations_and_judge_them(tmp_path, capsys, clean_state):
  # A pinchjax evaluation set, and a pinchjax run's generations on it.
  evalset = tmp_path / "eval.jsonl"
  canonical.write_jsonl(str(evalset), [canonical.Record(f"eval-{i}", "en", p, "", "alpacafarm")
                                       for i, p in enumerate(EN_PROMPTS)])
  generations.write(str(tmp_path / "ours.jsonl"), [
      {"id": f"eval-{i}", "lang": "en", "instruction": p,
       "response": f"Answer to eval-{i}" if i < 2 else "no idea", "run": "ours",
       "decode_config": {"max_new_tokens": 8}} for i, p in enumerate(EN_PROMPTS)])
  # Outputs released elsewhere, AlpacaEval style: several systems in one file, another order.
  release = tmp_path / "outputs.json"
  release.write_text(json.dumps([
      {"instruction": EN_PROMPTS[i], "output": f"Answer to eval-{i}", "generator": "theirs",
       "dataset": "helpful_base", "datasplit": "eval"} for i in (3, 2, 1, 0)] + [
      {"instruction": EN_PROMPTS[0], "output": "x", "generator": "other",
       "dataset": "helpful_base", "datasplit": "eval"}]))
  gens = tmp_path / "theirs.jsonl"
  rc, out, err = _run(capsys, "data", "import-generations", "--map",
                      "instruction=instruction,output=output,run=generator", "--run", "theirs",
                      "--lang", "en", "--ids-from", str(evalset), str(release), str(gens))
  assert rc == 0, err
  assert json.loads(out)["filtered"] == {"rows of other runs (other)": 1}
  rows = [json.loads(line) for line in gens.read_text().splitlines()]
  assert sorted(rows[0]) == ["decode_config", "finish_reason", "id", "instruction", "lang",
                             "num_tokens", "response", "run"]
  assert [(r["id"], r["run"]) for r in rows] == [(f"eval-{i}", "theirs") for i in (3, 2, 1, 0)]
  assert generations.read(str(gens))[0]["decode_config"] == {"imported_from": str(release)}
  # Judged against our run by the deterministic judge: theirs right on 4, ours on 2.
  rc = cli.main(["judge", "--candidate", str(gens), "--baseline", str(tmp_path / "ours.jsonl"),
                 "--out", str(tmp_path / "judged"), "--judge", "verifiable",
                 f"--gin.VerifiableBackend.checker=@{__name__}.right_answer",
                 "--gin.judge_run.n_boot=50"])
  scores = json.loads((tmp_path / "judged" / "scores.json").read_text())
  assert rc == 0 and scores["per_language"]["en"]["score"] == pytest.approx(100 * (2 + 1) / 4)
  # An instruction the evaluation set does not hold names the item.
  release.write_text(json.dumps([{"instruction": "Unknown?", "output": "y",
                                  "generator": "theirs"}]))
  rc, _, err = _run(capsys, "data", "import-generations", "--map",
                    "instruction=instruction,output=output", "--run", "theirs", "--lang", "en",
                    "--ids-from", str(evalset), str(release), str(gens))
  assert rc == 1 and "outputs.json:item 0: field 'instruction' is not an instruction of" in err
