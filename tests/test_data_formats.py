"""Readers of real dataset layouts, on small files written here in those layouts."""
import json

import pytest

from pinchjax.data import canonical, formats, paperset
from pinchjax.data.canonical import Record, RecordError


def _jsonl(path, rows):
  path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                  encoding="utf-8")
  return str(path)


def test_lima_keeps_first_pair_and_counts_later_turns(tmp_path):
  f = _jsonl(tmp_path / "lima.jsonl", [
      {"conversations": ["What is 2+2?", "4."], "source": "stackexchange"},
      {"conversations": ["Hi", "Hello!", "How are you?", "Fine."], "source": "multi_turn"},
  ])
  res = formats.read_lima(f, "en")
  assert [r.id for r in res.records] == ["lima-0", "lima-1"]
  assert res.records[1] == Record("lima-1", "en", "Hi", "Hello!", "lima/multi_turn")
  assert res.filtered["later turns of multi-turn conversations (first pair kept)"] == 1


def test_lima_malformed_raises_with_line_and_field_or_skips_counted(tmp_path):
  f = _jsonl(tmp_path / "lima.jsonl", [
      {"conversations": ["a", "b"]},
      "{not json",
      {"conversations": ["only one"]},
      {"conversations": ["q", "  "]},
      {"conversations": ["x", "y"]},
  ])
  with pytest.raises(RecordError) as e:
    formats.read_lima(f, "en")
  assert f"{f}:2" in str(e.value) and "malformed JSON" in str(e.value)
  res = formats.read_lima(f, "en", on_error="skip")
  assert res.skipped.total == 3
  assert [r.id for r in res.records] == ["lima-0", "lima-4"]  # ids follow lines, not survivors
  assert res.skipped.counts["response: is empty"] == 1
  assert any("conversations" in reason for reason in res.skipped.counts)


FLAT = [
    {"message_id": "p1", "parent_id": None, "role": "prompter", "text": "Name a fruit", "lang": "en"},
    {"message_id": "a1", "parent_id": "p1", "role": "assistant", "text": "Pear", "lang": "en",
     "rank": 1},
    {"message_id": "a2", "parent_id": "p1", "role": "assistant", "text": "Apple", "lang": "en",
     "rank": 0},
    {"message_id": "p2", "parent_id": "a2", "role": "prompter", "text": "Another?", "lang": "en"},
    {"message_id": "p3", "parent_id": None, "role": "prompter", "text": "Hola", "lang": "es"},
    {"message_id": "a3", "parent_id": "p3", "role": "assistant", "text": "Hola!", "lang": "es"},
    {"message_id": "p4", "parent_id": None, "role": "prompter", "text": "Unanswered", "lang": "en"},
    {"message_id": "p5", "parent_id": None, "role": "prompter", "text": "Unranked", "lang": "en"},
    {"message_id": "a5", "parent_id": "p5", "role": "assistant", "text": "first", "lang": "en",
     "rank": None},
    {"message_id": "a6", "parent_id": "p5", "role": "assistant", "text": "second", "lang": "en"},
]


def test_oasst_flat_export_best_ranked_first_turn(tmp_path):
  res = formats.read_oasst(_jsonl(tmp_path / "m.jsonl", FLAT), "en")
  assert [(r.id, r.instruction, r.response) for r in res.records] == [
      ("oasst-p1", "Name a fruit", "Apple"), ("oasst-p5", "Unranked", "first")]
  assert res.filtered["prompts in another language (es)"] == 1
  assert res.filtered["prompts without an assistant reply"] == 1
  assert res.filtered["messages below the first turn"] == 1
  es = formats.read_oasst(_jsonl(tmp_path / "m.jsonl", FLAT), "es")
  assert [(r.id, r.lang) for r in es.records] == [("oasst-p3", "es")]


def test_oasst_nested_tree_and_malformed(tmp_path):
  tree = {"message_tree_id": "t1", "tree_state": "ready_for_export", "prompt": {
      "message_id": "root", "role": "prompter", "text": "Why is the sky blue?", "lang": "en",
      "replies": [
          {"message_id": "r1", "role": "assistant", "text": "Scattering.", "rank": 2,
           "replies": [{"message_id": "deep", "role": "prompter", "text": "more?"}]},
          {"message_id": "r2", "role": "assistant", "text": "Rayleigh scattering.", "rank": 0},
      ]}}
  bad = {"message_tree_id": "t2", "prompt": {"message_id": "x", "role": "prompter",
                                             "lang": "en", "replies": []}}
  f = _jsonl(tmp_path / "trees.jsonl", [tree, bad])
  with pytest.raises(RecordError, match=r"trees.jsonl:2: field 'text' is missing"):
    formats.read_oasst(f, "en")
  res = formats.read_oasst(f, "en", on_error="skip")
  assert [(r.id, r.response) for r in res.records] == [("oasst-root", "Rayleigh scattering.")]
  assert res.filtered["messages below the first turn"] == 1
  assert res.skipped.counts == {"text: is missing": 1}


def test_alpaca_json_array_with_and_without_input(tmp_path):
  f = tmp_path / "alpaca.json"
  f.write_text(json.dumps([
      {"instruction": "Translate to French", "input": "cat", "output": "chat"},
      {"instruction": "Say hi", "input": "", "output": "Hi"},
      {"instruction": "No output", "input": ""},
  ]))
  with pytest.raises(RecordError, match=r"alpaca.json:item 2: field 'output' is missing"):
    formats.read_alpaca(str(f), "en")
  res = formats.read_alpaca(str(f), "en", on_error="skip")
  assert [r.instruction for r in res.records] == ["Translate to French\n\ncat", "Say hi"]
  assert [r.id for r in res.records] == ["alpaca-0", "alpaca-1"] and res.skipped.total == 1


def test_aya_language_names_codes_and_mismatch(tmp_path):
  f = _jsonl(tmp_path / "aya.jsonl", [
      {"inputs": "Habari?", "targets": "Nzuri.", "language": "Swahili"},
      {"inputs": "Hi", "targets": "Hello", "language": "en"},
      {"inputs": "Jambo", "targets": "Jambo!", "language": "sw", "id": "x7"},
      {"inputs": "Salaam", "targets": "Salaam!", "language": "Kiswahili", "language_code": "swh"},
      {"inputs": "?", "targets": "!", "language": "Klingon", "language_code": "tlh"},
  ])
  with pytest.raises(RecordError, match=r"aya.jsonl:2: field 'language' is 'en' but the file is"):
    formats.read_aya(f, "sw")
  res = formats.read_aya(f, "sw", on_error="skip")
  assert [r.id for r in res.records] == ["aya-0", "x7", "aya-3"] and res.skipped.total == 2
  assert res.skipped.counts["language: unknown language 'Klingon' (language_code 'tlh')"] == 1


def test_alpacafarm_eval_set_allows_missing_response(tmp_path):
  f = _jsonl(tmp_path / "eval.jsonl", [
      {"instruction": "Write a haiku", "input": "", "dataset": "helpful_base"},
      {"instruction": "Summarise", "input": "Long text", "output": "ref answer"},
      {"instruction": "", "input": ""},
  ])
  res = formats.read_alpacafarm(f, "en", on_error="skip")
  assert [(r.id, r.instruction, r.response) for r in res.records] == [
      ("eval-0", "Write a haiku", ""), ("eval-1", "Summarise\n\nLong text", "ref answer")]
  assert res.skipped.counts == {"instruction: is empty": 1}


def test_canonical_roundtrip_and_errors(tmp_path):
  recs = [Record("1", "he", "שלום", "שלום!", "x"), Record("2", "he", "מה?", "כלום", "x")]
  path = str(tmp_path / "he.jsonl")
  assert canonical.write_jsonl(path, recs) == 2
  assert canonical.read_jsonl(path, lang="he") == recs
  assert "שלום" in open(path, encoding="utf-8").read()  # not ASCII-escaped
  with pytest.raises(RecordError, match=r"he.jsonl:1: field 'lang' is 'he' but the file is for"):
    canonical.read_jsonl(path, lang="ar")
  bad = _jsonl(tmp_path / "bad.jsonl", [
      {"id": "1", "lang": "xx", "instruction": "a", "response": "b", "source": "s"},
      {"id": "2", "lang": "en", "instruction": "a", "response": "b"},
      {"id": "3", "lang": "en", "instruction": 5, "response": "b", "source": "s"},
      {"id": "4", "lang": "en", "instruction": "a", "response": "b", "source": "s"},
      {"id": "4", "lang": "en", "instruction": "a", "response": "b", "source": "s"},
  ])
  skipped = canonical.Skipped()
  got = canonical.read_jsonl(bad, "skip", skipped=skipped)
  assert [r.id for r in got] == ["4"]
  assert skipped.total == 4
  assert skipped.counts["source: is missing"] == 1
  assert skipped.counts["instruction: expected a string, got int"] == 1
  assert skipped.counts["id: duplicate id '4' in this file"] == 1
  assert skipped.examples["source: is missing"] == [f"{bad}:2"]


def test_parallel_alignment_check(tmp_path):
  en = [Record("a", "en", "q", "r", "s"), Record("b", "en", "q", "r", "s")]
  fi = [Record("a", "fi", "q", "r", "s"), Record("c", "fi", "q", "r", "s")]
  assert canonical.aligned_ids({"en": en, "fi": en}, "en") == ["a", "b"]
  with pytest.raises(RecordError, match=r"fi: field 'id' not aligned with en: 1 ids missing"):
    canonical.aligned_ids({"en": en, "fi": fi}, "en")


def test_build_paper_set_selection(tmp_path):
  lima = _jsonl(tmp_path / "lima.jsonl",
                [{"conversations": [f"Question {i}", f"Answer {i}"]} for i in range(5)])
  flat = []
  for i in range(6):
    text = "question 1" if i == 2 else f"Prompt {i}"  # duplicates LIMA's "Question 1"
    flat += [{"message_id": f"p{i}", "parent_id": None, "role": "prompter", "text": text,
              "lang": "en"},
             {"message_id": f"a{i}", "parent_id": f"p{i}", "role": "assistant",
              "text": f"Reply {i}", "lang": "en", "rank": 0}]
  oasst = _jsonl(tmp_path / "oasst.jsonl", flat)
  recs, report = paperset.build_paper_set(lima, oasst, n_lima=3, n_oasst=4)
  assert [r.id for r in recs] == ["lima-0", "lima-1", "lima-2",
                                  "oasst-p0", "oasst-p1", "oasst-p3", "oasst-p4"]
  assert report["oasst_duplicate_prompts_skipped"] == 1
  assert recs == paperset.build_paper_set(lima, oasst, n_lima=3, n_oasst=4)[0]
  with pytest.raises(ValueError, match="5 usable distinct English OASST prompts, 6 needed"):
    paperset.build_paper_set(lima, oasst, n_lima=3, n_oasst=6)
