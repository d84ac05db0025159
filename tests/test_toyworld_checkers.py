"""The toy world's checkers on generated right and wrong answers, in all 12 languages."""
import pytest

from pinchjax import languages
from pinchjax.data.toyworld import checkers, facts, lexicon, sentences, tasks

LANGS = languages.PAPER_LANGUAGES
ITEMS = tasks.split_items(seed=0, list_items=40)["eval"]


def _wrong_fact(fact: facts.Fact) -> facts.Fact:
  """Another item of the same family with a different answer."""
  return next(f for f in ITEMS if f.relation == fact.relation and f.answer != fact.answer)


def test_every_family_is_covered():
  assert {f.relation for f in ITEMS} == set(tasks.FAMILIES)
  assert len(tasks.FAMILIES) >= 6


@pytest.mark.parametrize("lang", LANGS)
def test_checker_on_right_and_wrong_answers(lang):
  other = LANGS[(LANGS.index(lang) + 1) % len(LANGS)]
  for fact in ITEMS:
    record = tasks.record(fact, lang)
    right = sentences.response(fact, lang)
    assert checkers.check(record, right), (record, right)
    # Without the full stop, or as a plain dict read from JSONL, it passes too.
    bare = " ".join(lexicon.get(lang).word(a) for a in fact.answer)
    assert checkers.check(record, bare), (record, bare)
    assert checkers.check(record.to_json(), right)
    assert not checkers.check(record, sentences.response(_wrong_fact(fact), lang))
    # Right answer, wrong language; or with a foreign word; or half translated.
    assert not checkers.check(record, sentences.response(fact, other))
    assert not checkers.check(record, right + " " + lexicon.get(other).word("dog"))
    if len(fact.answer) > 1:
      half = [lexicon.get(other).word(fact.answer[0])] + bare.split()[1:]
      assert not checkers.check(record, " ".join(half))
    # The fact's statement passes; one with the wrong answer or of another fact does not.
    assert checkers.check(record, sentences.statement(fact, lang))
    wrong = _wrong_fact(fact)
    swapped = sentences.statement(fact, lang, swap={fact.answer[0]: lexicon.get(lang).word(
        wrong.answer[0])}) if wrong.answer[0] not in fact.args else None
    if swapped is not None and swapped != sentences.statement(fact, lang):
      assert not checkers.check(record, swapped), swapped
    assert not checkers.check(record, sentences.statement(wrong, lang))
    # Echoing the question is not an answer.
    assert not checkers.check(record, record.instruction)
    assert not checkers.check(record, "")


@pytest.mark.parametrize("lang", LANGS)
def test_response_in_language(lang):
  fact = ITEMS[0]
  assert checkers.response_in_language(sentences.response(fact, lang), lang)
  assert checkers.response_in_language(sentences.question(fact, lang), lang)
  assert checkers.identify(sentences.question(fact, lang)) == lang
  for other in LANGS:
    if other != lang:
      assert not checkers.response_in_language(sentences.response(fact, other), lang)
  assert not checkers.response_in_language("", lang)
  assert not checkers.response_in_language("xyzzy", lang)


def test_list_answers_need_the_exact_order():
  fact = facts.make("reverse", ("dog", "red", "bread"))
  record = tasks.record(fact, "en")
  assert record.response == "bread red dog."
  assert checkers.check(record, "the reverse of dog red bread is bread red dog.")
  assert checkers.check(record, "bread red dog")
  assert not checkers.check(record, "the reverse of dog red bread is dog red bread.")
  assert not checkers.check(record, "dog red bread.")
  assert not checkers.check(record, "bread red.")
  count = tasks.record(facts.make("count", ("dog", "red", "bread")), "en")
  assert count.instruction == "how many things are dog red bread?"
  assert count.response == "three."
  assert checkers.check(count, "dog red bread are three.")
  assert checkers.check(count, "three.")
  assert checkers.check(count, "three things.")  # function words are allowed
  assert not checkers.check(count, "four.")
  assert not checkers.check(count, "dog red bread are four.")
  assert not checkers.check(count, "dog red are three.")


def test_ids_name_items_and_bad_ids_fail_loudly():
  assert facts.from_id("plus-three.five").answer == ("eight",)
  assert facts.from_id("next-sunday").answer == ("monday",)
  assert facts.from_id("prev-january").answer == ("december",)
  for bad in ("plus-nineteen.one", "next-nineteen", "minus-one.two", "opposite-dog",
              "count-dog", "reverse-dog.dog", "nonsense", "fly-dog"):
    with pytest.raises(facts.FactError):
      facts.from_id(bad)
