"""The toy lexicon: enough concepts, each language in its own script, disjoint words."""
import unicodedata

from pinchjax import languages
from pinchjax.data.toyworld import concepts, lexicon

SCRIPT_PREFIX = {"Arabic": "ARABIC", "Han": "CJK UNIFIED", "Latin": "LATIN",
                 "Hebrew": "HEBREW", "Devanagari": "DEVANAGARI", "Cyrillic": "CYRILLIC"}


def test_enough_concepts_in_every_language():
  # The real calendar, and the numbers 0-19 that sums and differences stay within.
  assert (len(concepts.DAYS), len(concepts.MONTHS), len(concepts.NUMBERS)) == (7, 12, 20)
  for lang in languages.PAPER_LANGUAGES:
    lex = lexicon.get(lang)
    assert set(lex.content) == set(concepts.CONCEPTS)
    assert len(set(lex.content.values())) == len(concepts.CONCEPTS)  # one word per concept
    assert set(lexicon.QUESTION_ROLES) <= set(lex.function)


def test_every_word_is_in_its_language_script():
  for lang in languages.PAPER_LANGUAGES:
    prefix = SCRIPT_PREFIX[languages.get(lang).script]
    lex = lexicon.get(lang)
    for word in list(lex.content.values()) + list(lex.function.values()):
      for ch in word.replace(" ", ""):
        assert unicodedata.name(ch).startswith(prefix), (lang, word, unicodedata.name(ch))


def test_surface_forms_are_disjoint_across_languages():
  seen = {}
  for lang in languages.PAPER_LANGUAGES:
    for form in lexicon.get(lang).surfaces:
      assert form not in seen, (form, lang, seen.get(form))
      seen[form] = lang
  # Affixed forms analyse back to their concept.
  fi = lexicon.get("fi")
  assert fi.analyze(fi.word("monday") + "n") == ("monday", True)
  ar = lexicon.get("ar")
  assert ar.analyze("ال" + ar.word("dog")) == ("dog", True)


def test_lexicon_is_fixed():
  # Pinned words: a change here changes every toy world (and invalidates trained models).
  assert lexicon.get("en").word("monday") == "monday"
  assert [lexicon.get(l).word("monday") for l in ("fi", "ru", "zh", "ar")] == [
      "sivies", "грюшуй", "明衣", "ريناة"]


def test_typologies_differ():
  typs = [lexicon.get(l).typology for l in languages.PAPER_LANGUAGES]
  assert {t.order for t in typs} == {"SVO", "SOV", "VSO"}
  assert {t.adposition for t in typs} == {"pre", "post"}
  assert {a.kind for t in typs for a in t.affixes} == {"prefix", "suffix"}
  assert {t.question for t in typs} == {"front_inv", "front", "in_situ"}
