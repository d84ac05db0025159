"""The 12 toy languages' words: one per concept and per function role, in each one's script.

English uses the concept keys themselves (so examples and reports stay readable); the other
languages get synthetic words drawn from their own inventories (phonology.py) by a random
generator seeded with the language code, so the lexicon is the same on every machine and
does not depend on a build's seed. Every surface form (bare word, or word with one of the
language's affixes) is unique across all languages: a token names one word of one language,
which is what the language checker relies on.
"""
from __future__ import annotations

import dataclasses
import functools
import random
import unicodedata
from typing import Mapping

from pinchjax import languages
from pinchjax.data.toyworld import concepts
from pinchjax.data.toyworld.phonology import PHONOLOGIES
from pinchjax.data.toyworld.typology import TYPOLOGIES, Typology

# Function words of statements.
STATEMENT_ROLES: tuple[str, ...] = (
    "after", "before", "comes", "is", "are", "plus", "minus", "opposite", "of", "kind",
    "reverse", "things", "the")
# Question words (the order of the roles fixes the drawn words: append, never reorder).
QUESTION_ROLES: tuple[str, ...] = ("what", "how_many")

_ENGLISH_FUNCTION = {role: role for role in STATEMENT_ROLES + QUESTION_ROLES} | {
    "how_many": "how many"}


@dataclasses.dataclass(frozen=True)
class Lexicon:
  lang: str
  typology: Typology
  content: Mapping[str, str]  # concept -> word
  function: Mapping[str, str]  # role -> word (English "how many" is two tokens)
  surfaces: Mapping[str, tuple[str, bool]]  # surface token -> (concept or role, is_content)

  def word(self, concept: str) -> str:
    return self.content[concept]

  def analyze(self, token: str) -> tuple[str, bool] | None:
    """(concept or role, is_content) for a surface token of this language, else None."""
    return self.surfaces.get(token)


def roles(typology: Typology) -> tuple[str, ...]:
  """The function roles a language has (no copula in Russian, no article in most)."""
  absent = set()
  if not typology.copula:
    absent |= {"is", "are"}
  if not typology.of_word:
    absent.add("of")
  if not typology.article:
    absent.add("the")
  return tuple(r for r in STATEMENT_ROLES + QUESTION_ROLES if r not in absent)


def tokens(text: str) -> list[str]:
  """Whitespace tokens with surrounding punctuation and symbols (?, ؟, =, ...) removed."""
  out = []
  for raw in text.split():
    start, end = 0, len(raw)
    while start < end and unicodedata.category(raw[start])[0] in "PS":
      start += 1
    while end > start and unicodedata.category(raw[end - 1])[0] in "PS":
      end -= 1
    if start < end:
      out.append(raw[start:end])
  return out


@functools.cache
def lexicons() -> dict[str, Lexicon]:
  """All 12 lexicons, built together so that their surface forms are disjoint."""
  taken: set[str] = set()
  out = {}
  # English first: its words are fixed, the synthetic ones avoid them.
  for lang in ("en",) + tuple(l for l in languages.PAPER_LANGUAGES if l != "en"):
    typology = TYPOLOGIES[lang]
    rng = random.Random(f"pinchjax-toyworld-lexicon-{lang}")

    def new_word(syllables: int, fixed: str | None = None) -> str:
      for attempt in range(10_000):
        word = fixed or PHONOLOGIES[lang].word(rng, syllables + attempt // 1000)
        forms = _forms(word, typology)
        if not forms & taken and len(forms) == len(word.split()) * (1 + len(typology.affixes)):
          taken.update(forms)
          return word
        if fixed:
          raise ValueError(f"{lang} word {fixed!r} clashes with another language's word")
      raise RuntimeError(f"could not draw a new {lang} word")  # never with these inventories

    english = lang == "en"
    function = {r: new_word(1, _ENGLISH_FUNCTION[r] if english else None)
                for r in roles(typology)}
    content = {c: new_word(2, c if english else None) for c in concepts.CONCEPTS}
    surfaces = {}
    for keys, is_content in ((content, True), (function, False)):
      for key, word in keys.items():
        for form in _forms(word, typology):
          surfaces[form] = (key, is_content)
    out[lang] = Lexicon(lang, typology, content, function, surfaces)
  return {lang: out[lang] for lang in languages.PAPER_LANGUAGES}


def _forms(word: str, typology: Typology) -> set[str]:
  """Every surface token a (possibly multi-token) word can take in its language."""
  forms = set()
  for tok in word.split():
    forms.add(tok)
    forms.update(affix.apply(tok) for affix in typology.affixes)
  return forms


def get(lang: str) -> Lexicon:
  try:
    return lexicons()[lang]
  except KeyError:
    raise ValueError(f"the toy world has no language {lang!r}; it has "
                     f"{', '.join(languages.PAPER_LANGUAGES)}") from None
