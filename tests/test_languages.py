import pytest

from pinchjax import languages


def test_paper_sets():
  assert len(languages.PAPER_LANGUAGES) == 12
  assert set(languages.SEEN) | set(languages.UNSEEN) == set(languages.PAPER_LANGUAGES)
  assert not set(languages.SEEN) & set(languages.UNSEEN)
  assert languages.get("hi").script == "Devanagari"
  assert languages.resolve("seen") == ("en", "ar", "fi", "it", "ru", "sw")
  assert languages.resolve("en, fi") == ("en", "fi")


def test_unknown_code_lists_known_ones():
  with pytest.raises(languages.UnknownLanguageError, match="known codes: .*en.*zh"):
    languages.get("xx")
  with pytest.raises(languages.UnknownLanguageError):
    languages.resolve("en,xx")


def test_register_new_code():
  languages.register("de", "German", "Indo-European", "Latin")
  assert languages.check("de") == "de"
  with pytest.raises(ValueError, match="already registered"):
    languages.register("de", "German", "Germanic", "Latin")
  with pytest.raises(ValueError, match="ISO 639-1"):
    languages.register("deu", "German", "Indo-European", "Latin")
