"""build_toyworld: parallel, disjoint instruction sets; a corpus without instruction format."""
import collections
import json
import os
import re

import pytest

from toyworld_counts import split_sizes
from pinchjax import languages
from pinchjax.data import canonical
from pinchjax.data.toyworld import build, checkers, corpus, facts, lexicon, sentences, tasks

LANGS = languages.PAPER_LANGUAGES
SMALL = dict(sentences_per_language=650, list_items=400)
SIZES = split_sizes(list_items=SMALL["list_items"])  # family -> items, by split
PER_LANGUAGE = {split: sum(sizes.values()) for split, sizes in SIZES.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("toyworld"))
  return out, build.build_toyworld(out, seed=0, **SMALL)


def _read(out, split, lang):
  return canonical.read_jsonl(build.instruction_path(out, split, lang), lang=lang)


def test_sets_are_parallel_disjoint_and_large(world):
  out, manifest = world
  ids = {}
  for split in tasks.SPLITS:
    per_lang = {lang: [r.id for r in _read(out, split, lang)] for lang in LANGS}
    # Same ids in the same order in every language.
    assert all(v == per_lang["en"] for v in per_lang.values())
    ids[split] = per_lang["en"]
  assert not set(ids["train"]) & set(ids["eval"])
  for split in tasks.SPLITS:
    assert len(ids[split]) == manifest["items"][split]["per_language"] == PER_LANGUAGE[split]
    by_family = collections.Counter(facts.from_id(i).relation for i in ids[split])
    assert by_family == manifest["items"][split]["by_family"] == SIZES[split]
  assert manifest["records"]["eval"] == {lang: PER_LANGUAGE["eval"] for lang in LANGS}


def test_reference_responses_pass_their_checker(world):
  out, _ = world
  for lang in LANGS:
    for record in _read(out, "eval", lang):
      assert checkers.check(record, record.response), record


def _corpus_lines(out):
  with open(build.corpus_path(out), encoding="utf-8") as f:
    return f.read().splitlines()


def _sentences(line):
  """A document's sentences, each with its closing mark."""
  return re.findall(r".+?[.。।?؟？](?: |$)", line)


def test_corpus_has_no_instruction_format(world):
  out, manifest = world
  lines = _corpus_lines(out)
  assert len(lines) == manifest["corpus"]["lines"]
  assert manifest["corpus"]["sentences_by_language"] == {lang: 650 for lang in LANGS}
  questions = [l for l in lines if re.search(r"[?؟？]", l)]
  # Questions stand alone, one a document: nothing follows a question, nothing answers it.
  assert len(questions) == manifest["corpus"]["by_kind"]["question"] == 65 * 12
  assert all(len(_sentences(q)) == 1 and re.search(r"[?؟？]$", q) for q in questions)
  assert not any("<user>" in l or "<model>" in l for l in lines)


def test_corpus_states_every_eval_fact_in_every_language(world):
  out, _ = world
  stated = {s.strip() for l in _corpus_lines(out) for s in _sentences(l)}
  finite = [r for r in _read(out, "eval", "en") if facts.from_id(r.id).relation in facts.FINITE]
  assert len(finite) == sum(SIZES["eval"][f] for f in facts.FINITE)
  for lang in LANGS:
    for r in finite:
      assert sentences.statement(facts.from_id(r.id), lang) in stated


def test_corpus_mixes_parallel_and_code_switched_text():
  lines = list(corpus.generate(3, ("en", "fi", "zh"), 700, parallel_fraction=0.25))
  kinds = {k: sum(l.kind == k for l in lines) for k in corpus.KINDS}
  assert sum(l.sentences for l in lines if l.kind == "fact") == 2100 - 210
  assert kinds["question"] == 210
  # Documents of 1-4 statements in one language.
  assert {l.sentences for l in lines if l.kind == "fact"} == {1, 2, 3, 4}
  assert sum(kinds[k] for k in corpus.PARALLEL_KINDS) == round(
      0.25 / 0.75 * (kinds["fact"] + kinds["question"]))
  assert all(kinds[k] > 50 for k in corpus.PARALLEL_KINDS)
  function_words = {lexicon.get("fi").function["after"], lexicon.get("zh").function["after"]}
  assert any(l.kind == "dictionary" and set(l.text.split()) & function_words for l in lines)
  for line in lines:
    if line.kind in corpus.PARALLEL_KINDS:
      # Both languages really occur in the line.
      assert {checkers.identify(part) for part in line.text.split(" = ")} <= set(line.langs)
      assert len(set(line.langs)) == 2
  weighted = list(corpus.generate(3, ("en", "fi"), 700, 0.0, language_weights={"fi": 2.0}))
  assert sum(l.sentences for l in weighted if l.langs == ("fi",)) == 1400
  with pytest.raises(ValueError, match="cannot state all"):
    list(corpus.generate(0, ("en",), 600, 0.0, question_fraction=0.5))


def _tree_bytes(out):
  files = {}
  for root, _, names in os.walk(out):
    for n in names:
      with open(os.path.join(root, n), "rb") as f:
        files[os.path.relpath(os.path.join(root, n), out)] = f.read()
  return files


def test_same_seed_same_world_other_seed_other_world(world, tmp_path):
  out, _ = world
  build.build_toyworld(str(tmp_path / "again"), seed=0, **SMALL)
  assert _tree_bytes(out) == _tree_bytes(str(tmp_path / "again"))
  other = build.build_toyworld(str(tmp_path / "other"), seed=1, **SMALL)
  assert _corpus_lines(out) != _corpus_lines(str(tmp_path / "other"))
  assert [r.id for r in _read(out, "eval", "en")] != [
      r.id for r in _read(str(tmp_path / "other"), "eval", "en")]
  assert other["items"]["eval"]["per_language"] == PER_LANGUAGE["eval"]


def test_manifest_and_lexicon_files(world):
  out, manifest = world
  with open(os.path.join(out, "manifest.json")) as f:
    assert json.load(f) == manifest
  with open(os.path.join(out, "lexicon.json"), encoding="utf-8") as f:
    lex = json.load(f)
  assert lex["fi"]["content"]["monday"] == lexicon.get("fi").word("monday")
  assert lex["hi"]["typology"]["order"] == "SOV"


def test_corpus_knobs_digits_and_parallel_kinds():
  plain = list(corpus.generate(0, ["en", "fi"], 800))
  assert not any(ch.isdigit() for l in plain for ch in l.text)
  lines = list(corpus.generate(0, ["en", "fi"], 800, parallel_fraction=0.2,
                               parallel_kinds={"dictionary": 1.0}, digit_fraction=0.5))
  assert {l.kind for l in lines} == {"fact", "question", "dictionary"}
  facts_with_digits = [l for l in lines if l.kind == "fact" and any(c.isdigit() for c in l.text)]
  # Digits are shared anchors: the same "19" in both languages' statements.
  assert {l.langs[0] for l in facts_with_digits if " 19" in f" {l.text}"} == {"en", "fi"}
  with pytest.raises(ValueError, match="parallel_kinds"):
    list(corpus.generate(0, ["en", "fi"], 800, parallel_kinds={"poem": 1.0}))
  with pytest.raises(ValueError, match="digit_fraction"):
    list(corpus.generate(0, ["en", "fi"], 800, digit_fraction=1.0))
