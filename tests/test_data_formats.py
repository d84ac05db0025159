"""Readers of real dataset layouts, on small files written here in those layouts."""
import json

import gin
import pytest

from pinchjax.data import canonical, deepjson, formats, mapped, oasst, paperset
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


def oasst_msg(mid, parent, role, text, lang="en", tree="t1", **fields):
  """One message with every field of the oasst1/oasst2 dataset card."""
  m = {"message_id": mid, "parent_id": parent, "user_id": f"user-{mid}",
       "created_date": "2023-02-05T14:23:50.983374+00:00", "text": text, "role": role,
       "lang": lang, "review_count": 3, "review_result": True, "deleted": False, "rank": None,
       "synthetic": False, "model_name": None,
       "detoxify": {"toxicity": 0.0003, "severe_toxicity": 0.00003, "obscene": 0.0002,
                    "identity_attack": 0.0001, "insult": 0.0002, "threat": 0.00004,
                    "sexual_explicit": 0.00002},
       "message_tree_id": tree, "tree_state": "ready_for_export",
       "emojis": {"name": ["+1", "_skip_reply"], "count": [2, 1]},
       "labels": {"name": ["spam", "lang_mismatch", "quality"], "value": [0.0, 0.0, 0.75],
                  "count": [3, 3, 3]}}
  m.update(fields)
  return m


FLAT = [
    oasst_msg("p1", None, "prompter", "Name a fruit"),
    oasst_msg("a1", "p1", "assistant", "Pear (failed review)", rank=0, review_result=False),
    oasst_msg("a2", "p1", "assistant", "Apple", rank=1),
    oasst_msg("a3", "p1", "assistant", "Plum (synthetic)", rank=2, synthetic=True,
              model_name="oasst-sft-1"),
    oasst_msg("a4", "p1", "assistant", "Fig", rank=3),
    oasst_msg("q1", "a2", "prompter", "Another?"),
    oasst_msg("p2", None, "prompter", "Deleted prompt", deleted=True),
    oasst_msg("a5", "p2", "assistant", "Reply to a deleted prompt", rank=0),
    oasst_msg("p3", None, "prompter", "Hola", lang="es"),
    oasst_msg("a6", "p3", "assistant", "Hola!", lang="es", rank=0),
    oasst_msg("p4", None, "prompter", "Unreviewed first"),
    oasst_msg("a7", "p4", "assistant", "unreviewed rank 0", rank=0, review_result=None),
    oasst_msg("a8", "p4", "assistant", "reviewed rank 1", rank=1),
    oasst_msg("p5", None, "prompter", "Only a failed reply"),
    oasst_msg("a9", "p5", "assistant", "bad", review_result=False, rank=0),
    oasst_msg("p6", None, "prompter", "Synthetic prompt", synthetic=True),
    oasst_msg("b1", "p6", "assistant", "Synthetic prompt's reply", rank=0),
    oasst_msg("p7", None, "prompter", "Unanswered"),
    oasst_msg("p8", None, "prompter", "Unranked replies"),
    oasst_msg("b2", "p8", "assistant", "first"),
    oasst_msg("b3", "p8", "assistant", "second"),
]


def accounted(res):
  """Messages in records (prompt + reply), not selected, or skipped."""
  return 2 * len(res.records) + sum(res.filtered.values()) + res.skipped.total


def test_oasst_selection_as_the_export_tools_select(tmp_path):
  f = _jsonl(tmp_path / "m.jsonl", FLAT)
  res = formats.read_oasst(f, "en")
  assert [(r.id, r.instruction, r.response) for r in res.records] == [
      ("oasst-p1", "Name a fruit", "Apple"), ("oasst-p4", "Unreviewed first", "reviewed rank 1"),
      ("oasst-p8", "Unranked replies", "first")]
  assert res.filtered == {
      "failed review (review_result false) replies": 2, "synthetic replies": 1,
      "replies not chosen (a better one was)": 3, "messages below the first turn": 1,
      "deleted prompts": 1, "synthetic prompts": 1, "prompts in another language (es)": 1,
      "replies to prompts not selected": 3, "prompts without a usable assistant reply": 2}
  assert accounted(res) == len(FLAT)
  es = formats.read_oasst(f, "es")
  assert [(r.id, r.lang, r.response) for r in es.records] == [("oasst-p3", "es", "Hola!")]
  keep = formats.read_oasst(f, "en", selection=oasst.OasstSelection(
      skip_deleted=False, skip_synthetic=False, skip_failed_review=False))
  assert [(r.id, r.response) for r in keep.records] == [
      ("oasst-p1", "Apple"), ("oasst-p2", "Reply to a deleted prompt"),
      ("oasst-p4", "reviewed rank 1"), ("oasst-p5", "bad"),
      ("oasst-p6", "Synthetic prompt's reply"), ("oasst-p8", "first")]
  assert accounted(keep) == len(FLAT)


def test_oasst_selection_is_a_gin_binding(tmp_path):
  f = _jsonl(tmp_path / "m.jsonl", FLAT)
  with gin.unlock_config():
    gin.bind_parameter("OasstSelection.skip_synthetic", False)
  try:
    res = formats.read("oasst", f, "en")
  finally:
    gin.clear_config()
  assert "oasst-p6" in [r.id for r in res.records]
  assert res.filtered["synthetic replies"] == 0


def _tree(tree_id, state, root, *replies):
  """A oasst2 *.trees.jsonl row: the root prompt with nested `replies`."""
  return {"message_tree_id": tree_id, "tree_state": state,
          "prompt": {**root, "replies": list(replies)}}


def test_oasst_nested_tree_export_and_malformed(tmp_path):
  def node(mid, role, text, *replies, **fields):
    m = oasst_msg(mid, None, role, text, **fields)
    del m["parent_id"], m["tree_state"]
    return {**m, "replies": list(replies)}
  good = _tree("t1", "ready_for_export", node("root", "prompter", "Why is the sky blue?"),
               node("r1", "assistant", "Scattering.", node("deep", "prompter", "more?"), rank=1),
               node("r2", "assistant", "Rayleigh scattering.", rank=0))
  aborted = _tree("t2", "aborted_low_grade", node("x", "prompter", "Low grade"),
                  node("y", "assistant", "meh", rank=0))
  bad = _tree("t3", "ready_for_export", {"message_id": "z", "role": "prompter",
                                         "lang": "en", "replies": []})
  f = _jsonl(tmp_path / "trees.jsonl", [good, aborted, bad])
  with pytest.raises(RecordError, match=r"trees.jsonl:3: field 'text' is missing"):
    formats.read_oasst(f, "en")
  res = formats.read_oasst(f, "en", on_error="skip")
  assert [(r.id, r.response) for r in res.records] == [("oasst-root", "Rayleigh scattering.")]
  assert res.filtered == {"messages below the first turn": 1,
                          "replies not chosen (a better one was)": 1,
                          "prompts of trees in state 'aborted_low_grade'": 1,
                          "replies to prompts not selected": 1}
  assert res.skipped.counts == {"text: is missing": 1}
  assert accounted(res) == 3 + 2 + 1 + 1  # every message of the three trees
  any_state = formats.read_oasst(f, "en", "skip", oasst.OasstSelection(tree_state=None))
  assert [r.id for r in any_state.records] == ["oasst-root", "oasst-x"]


GRAPH_ERRORS = {
    "duplicate": ([oasst_msg("a1", "p1", "assistant", "again", rank=1)],
                  r"m.jsonl:3: field 'message_id' duplicate message_id 'a1' \(first at line 2\)"),
    "self-parent": ([oasst_msg("s1", "s1", "assistant", "me", rank=1),
                     oasst_msg("s2", "s1", "prompter", "below me")],
                    r"m.jsonl:3: field 'parent_id' message 's1' is its own parent"),
    "orphan": ([oasst_msg("o1", "gone", "assistant", "lost"),
                oasst_msg("o2", "o1", "prompter", "below the orphan")],
               r"m.jsonl:3: field 'parent_id' message 'o1': parent 'gone' is not in the file"),
    "cycle": ([oasst_msg("c1", "c2", "assistant", "x"), oasst_msg("c2", "c1", "prompter", "y"),
               oasst_msg("c3", "c1", "prompter", "below the cycle")],
              r"m.jsonl:3: field 'parent_id' message 'c1': parent chain loops \(c1 -> c2 -> c1\)"),
}


@pytest.mark.parametrize("case", sorted(GRAPH_ERRORS))
def test_oasst_rejects_broken_message_graphs(tmp_path, case):
  extra, error = GRAPH_ERRORS[case]
  lines = [oasst_msg("p1", None, "prompter", "Fine prompt"),
           oasst_msg("a1", "p1", "assistant", "Fine reply", rank=0)] + extra
  f = _jsonl(tmp_path / "m.jsonl", lines)
  with pytest.raises(RecordError, match=error):
    formats.read_oasst(f, "en")
  res = formats.read_oasst(f, "en", on_error="skip")
  assert [(r.id, r.response) for r in res.records] == [("oasst-p1", "Fine reply")]
  rejected = {"duplicate": 1, "self-parent": 1, "orphan": 1, "cycle": 2}[case]
  assert res.skipped.total == rejected
  assert res.filtered["messages below a rejected message"] == len(extra) - rejected
  assert accounted(res) == len(lines)


@pytest.mark.parametrize("depth", [950, 100_000])
def test_oasst_deep_trees_flat_and_nested(tmp_path, depth):
  roles = ("prompter", "assistant")
  flat = [{"message_id": f"m{i}", "parent_id": f"m{i - 1}" if i else None,
           "role": roles[i % 2], "text": f"turn {i}", "lang": "en", "rank": 0}
          for i in range(depth)]
  res = formats.read_oasst(_jsonl(tmp_path / "flat.jsonl", flat), "en")
  assert [(r.id, r.response) for r in res.records] == [("oasst-m0", "turn 1")]
  assert res.filtered == {"messages below the first turn": depth - 2}
  # The tree export nests one level per message; json.dumps cannot write it, so it is written
  # as text. 20,000 levels keep the test quick (100,000 read in ~6 s when measured).
  depth = min(depth, 20_000)
  opens = "".join(json.dumps({k: v for k, v in m.items() if k != "parent_id"})[:-1]
                  + ', "replies": [' for m in flat[:depth])
  tree = ('{"message_tree_id": "m0", "tree_state": "ready_for_export", "prompt": '
          + opens + "]}" * depth + "}")
  res = formats.read_oasst(_jsonl(tmp_path / "trees.jsonl", [tree]), "en")
  assert [(r.id, r.response) for r in res.records] == [("oasst-m0", "turn 1")]
  assert res.filtered == {"messages below the first turn": depth - 2}


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


def test_json_arrays_with_bom_and_malformed_arrays_name_the_line(tmp_path):
  rows = [{"instruction": "Say hi", "input": "", "output": "Hi"},
          {"instruction": "Count", "input": "1 2", "output": "3"}]
  f = tmp_path / "a.json"
  f.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, indent=1).encode())
  assert [r.instruction for r in formats.read_alpaca(str(f), "en").records] == [
      "Say hi", "Count\n\n1 2"]
  for text, problem in (('[{"instruction": "a", "output": "b"},\n]', "line 2 column 1 "
                         r"\(Illegal trailing comma"),
                        ('[{"instruction": "a", "output": "b"}\n{"x": 1}]', "line 2 column 1 "
                         r"\(Expecting ',' delimiter"),
                        ('[{"instruction": "a", "output": "b"}] [', "text after the closing")):
    f.write_text(text)
    with pytest.raises(RecordError, match=f"a.json: malformed JSON array.*{problem}"):
      formats.read_alpaca(str(f), "en")


@pytest.mark.parametrize("text", [
    '{"a": [1, 2.5, -3e2, {"b": null}], "c": "x\\u00e9\\n", "d": {}, "e": [], "f": true}',
    '[false, "", [[[]]], {"k": {"k": {"k": 0}}}]', '"plain"', '  7  '])
def test_deep_json_stack_parser_matches_json(text):
  assert deepjson._decode_with_stack(text, len(text) - len(text.lstrip()))[0] == json.loads(text)


def test_deep_json_errors_like_json():
  for bad in ('{"a" 1}', "[1 2]", "{1: 2}", "[", "[tru]"):
    with pytest.raises(json.JSONDecodeError):
      deepjson._decode_with_stack(bad, 0)
  value, depth = deepjson.loads("[" * 5000 + "]" * 5000), 1
  while value:
    value, depth = value[0], depth + 1
  assert depth == 5000
  with pytest.raises(json.JSONDecodeError, match="Extra data"):
    deepjson.loads("[" * 5000 + "]" * 5000 + "]")


def test_field_map_paths_ids_and_errors(tmp_path):
  f = _jsonl(tmp_path / "qa.jsonl", [
      {"question": "What is 2+2?", "answers": [{"text": "4"}], "context": "arithmetic"},
      {"question": "Capital of Italy?", "answers": [{"text": "Rome"}, {"text": "Roma"}]},
      {"question": "Broken", "answers": "not a list"},
      {"question": "No answer", "answers": []},
  ])
  mapping = mapped.parse_map("instruction=question, input=context, output=answers.-1.text")
  assert mapping == {"instruction": "question", "input": "context",
                     "response": "answers.-1.text"}
  res = mapped.read_mapped(f, mapping, "en", on_error="skip")
  assert [(r.id, r.instruction, r.response) for r in res.records] == [
      ("row-0", "What is 2+2?\n\narithmetic", "4"), ("row-1", "Capital of Italy?", "Roma")]
  assert res.skipped.counts == {
      "response: path 'answers.-1.text': cannot take '-1' of a str": 1,
      "response: is missing (mapped from 'answers.-1.text')": 1}
  with pytest.raises(ValueError, match="field 'instruction' is mapped twice"):
    mapped.parse_map("instruction=a,instruction=b")
  with pytest.raises(ValueError, match="must map the instruction field"):
    mapped.parse_map("output=a")
  with pytest.raises(ValueError, match="give the file's language"):
    mapped.read_mapped(f, {"instruction": "question"}, None)
