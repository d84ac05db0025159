"""How each toy language builds its sentences: word order, adpositions, affixes, questions.

The settings follow the real languages loosely, so that transfer between them is uneven the
way the feasibility probe saw it (weaker across word orders): Arabic is verb-first (VSO),
Hindi verb-final (SOV), the rest SVO; Finnish, Estonian, Hindi and Chinese put adpositions
after the noun; Czech, Russian, Finnish and Estonian mark the noun with a case suffix,
Arabic and Hebrew prefix a definite article, Swahili a class prefix; Russian drops the
present copula; Chinese, Hindi and Swahili leave question words in place, the others front
them.
"""
from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class Affix:
  kind: Literal["prefix", "suffix"]
  text: str

  def apply(self, word: str) -> str:
    return self.text + word if self.kind == "prefix" else word + self.text

  def strip(self, token: str) -> str | None:
    """The stem of `token` if it carries this affix (and is longer than it), else None."""
    if len(token) <= len(self.text):
      return None
    if self.kind == "prefix":
      return token[len(self.text):] if token.startswith(self.text) else None
    return token[:-len(self.text)] if token.endswith(self.text) else None


@dataclasses.dataclass(frozen=True)
class Typology:
  order: Literal["SVO", "SOV", "VSO"]
  adposition: Literal["pre", "post"]
  # front_inv: question phrase, verb, rest; front: question phrase, rest; in_situ: in place.
  question: Literal["front_inv", "front", "in_situ"]
  copula: bool  # False: "X Y" for "X is Y"
  of_word: bool  # whether "the opposite of X" has a word for "of" (else case does it)
  article: bool  # a separate definite article word ("the")
  oblique: Affix | None = None  # on the noun governed by an adposition or by "of"
  definite: Affix | None = None  # on definite head nouns, instead of an article word
  question_marks: tuple[str, str] = ("", "?")  # (opening, closing)
  full_stop: str = "."  # ends a response (pretraining lines have no final punctuation)

  @property
  def affixes(self) -> tuple[Affix, ...]:
    return tuple({a for a in (self.oblique, self.definite) if a is not None})


_AL, _HA = Affix("prefix", "ال"), Affix("prefix", "ה")

TYPOLOGIES: dict[str, Typology] = {
    "ar": Typology("VSO", "pre", "front", True, False, False, _AL, _AL, ("", "؟")),
    "zh": Typology("SVO", "post", "in_situ", True, True, False, question_marks=("", "？"),
                   full_stop="。"),
    "cs": Typology("SVO", "pre", "front_inv", True, False, False, Affix("suffix", "u")),
    "en": Typology("SVO", "pre", "front_inv", True, True, True),
    "et": Typology("SVO", "post", "front_inv", True, False, False, Affix("suffix", "st")),
    "fi": Typology("SVO", "post", "front_inv", True, False, False, Affix("suffix", "n")),
    "he": Typology("SVO", "pre", "front", True, True, False, _HA, _HA),
    "hi": Typology("SOV", "post", "in_situ", True, True, False, full_stop="।"),
    "it": Typology("SVO", "pre", "front_inv", True, True, True),
    "ru": Typology("SVO", "pre", "front_inv", False, False, False, Affix("suffix", "у")),
    "es": Typology("SVO", "pre", "front_inv", True, True, True, question_marks=("¿", "?")),
    "sw": Typology("SVO", "pre", "in_situ", True, True, False, Affix("prefix", "ku")),
}
