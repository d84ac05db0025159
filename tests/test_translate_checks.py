"""Output checks, prompt versions and the answer cache."""
import dataclasses

import pytest

from pinchjax.translate import cache as cache_lib
from pinchjax.translate import checks
from pinchjax.translate import prompt
from pinchjax.translate.segment import Segment

CFG = checks.CheckConfig()
SRC = Segment("Use the built-in function ⟦0⟧, which returns a new list.", ("`sorted()`",))
GOOD_ES = "Usa la función integrada ⟦0⟧, que devuelve una lista nueva."


@pytest.mark.parametrize("answer, failed", [
    (GOOD_ES, []),
    ("  \n", [checks.EMPTY]),
    ("Usa la función integrada sorted, que devuelve una lista nueva.", [checks.MARKERS]),
    ("Usa ⟦0⟧ ⟦0⟧, la función integrada que devuelve una lista nueva.", [checks.MARKERS]),
    ("Usa la función ⟦1⟧ integrada ⟦0⟧, que devuelve una lista nueva.", [checks.MARKERS]),
    ("use the BUILT-IN function ⟦0⟧,  which returns a new list.", [checks.UNTRANSLATED]),
    ("Usa ⟦0⟧.", [checks.LENGTH]),
    (GOOD_ES + " Es una función muy útil." * 12, [checks.LENGTH]),
    ("Käytä sisäänrakennettua funktiota ⟦0⟧, joka palauttaa uuden listan.", [checks.LANGUAGE]),
])
def test_each_check(answer, failed):
  assert checks.check(SRC, answer, "en", "es", CFG) == failed


def test_short_segments_skip_copy_length_and_language_checks():
  short = Segment("Python ⟦0⟧", ("`x`",))
  assert checks.check(short, "Python ⟦0⟧", "en", "fi", CFG) == []
  assert checks.check(short, "Python", "en", "fi", CFG) == [checks.MARKERS]
  strict = dataclasses.replace(CFG, min_letters=3)
  assert checks.check(short, "Python ⟦0⟧", "en", "fi", strict) == [checks.UNTRANSLATED]


def test_language_check_for_a_target_outside_the_paper_set():
  src = Segment("Practice speaking the language every single day.")
  assert checks.check(src, "Ćwicz mówienie w tym języku każdego dnia.", "en", "pl", CFG) == []
  assert checks.check(src, "Practica hablar el idioma todos los días.", "en", "pl",
                      CFG) == [checks.LANGUAGE]


def test_prompt_version_hashes_the_text():
  v1 = prompt.get("translate-v1")
  assert v1.version.startswith("translate-v1@") and len(v1.version) == len("translate-v1@") + 12
  edited = dataclasses.replace(v1, user="Translate: {text}")
  assert edited.version != v1.version and edited.version.startswith("translate-v1@")
  first = v1.messages("Hello ⟦0⟧ world", "en", "fi")
  assert [m["role"] for m in first] == ["system", "user"]
  assert "from English into Finnish" in first[0]["content"] and first[1]["content"] == (
      "Hello ⟦0⟧ world")
  retry = v1.messages("Hello ⟦0⟧ world", "en", "fi", retry=True)
  assert retry[0] == first[0] and "must be written in Finnish" in retry[1]["content"]
  assert retry[1]["content"].endswith("\n\nHello ⟦0⟧ world")
  with pytest.raises(ValueError, match="translate-v1"):
    prompt.get("nope")


def test_cache_persists_and_keys_every_field(tmp_path):
  key = cache_lib.Key("m", "translate-v1@abc", "en", "es", "Hello")
  other = [dataclasses.replace(key, **{f: "x"}) for f in
           ("model", "prompt", "source_lang", "target_lang", "source")]
  with cache_lib.Cache(str(tmp_path / "c.sqlite")) as cache:
    cache.put(key, "Hola")
    assert cache.get_many([key, *other]) == {key: "Hola"}
  with cache_lib.Cache(str(tmp_path / "c.sqlite")) as cache:  # reopened: still there
    assert cache.get_many([key]) == {key: "Hola"} and len(cache) == 1
