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
    # The bare answer words, without the "the answer is" frame, also count.
    bare = " ".join(lexicon.get(lang).word(a) for a in fact.answer)
    assert checkers.check(record, bare), (record, bare)
    # The record can be a plain mapping, as read from JSONL.
    assert checkers.check(record.to_json(), right)
    assert not checkers.check(record, sentences.response(_wrong_fact(fact), lang))
    # Right answer, wrong language.
    assert not checkers.check(record, sentences.response(fact, other))
    # Right answer in the wrong language inside the right frame, or with a foreign word.
    translate = {lexicon.get(lang).word(a): lexicon.get(other).word(a) for a in fact.answer}
    mixed = " ".join(translate.get(t, t) for t in right.split())
    assert mixed != right and not checkers.check(record, mixed), mixed
    assert not checkers.check(record, right + " " + lexicon.get(other).word("dog"))
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
  assert checkers.check(record, "the answer is bread red dog")
  assert checkers.check(record, "bread red dog.")
  assert not checkers.check(record, "the answer is dog red bread")
  assert not checkers.check(record, "the answer is bread red")
  count = tasks.record(facts.make("count", ("dog", "red", "bread")), "en")
  assert checkers.check(count, "the answer is three")
  assert not checkers.check(count, "the answer is four")


def test_ids_name_items_and_bad_ids_fail_loudly():
  assert facts.from_id("plus-three.five").answer == ("eight",)
  assert facts.from_id("next-sunday").answer == ("monday",)
  assert facts.from_id("prev-january").answer == ("december",)
  for bad in ("plus-nineteen.one", "next-nineteen", "minus-one.two", "opposite-dog",
              "count-dog", "reverse-dog.dog", "nonsense", "fly-dog"):
    with pytest.raises(facts.FactError):
      facts.from_id(bad)
