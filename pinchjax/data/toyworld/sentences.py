"""Renders facts as sentences of one toy language: statements, questions, answers.

Every fact is a clause of subject, verb and object, the object being the answer: "after
monday comes tuesday.", "three plus two is five.", "the opposite of big is small.", "the
kind of dog is animal.", "dog cat bread are three.", "the reverse of dog cat is cat dog.".
A language's typology orders the slots (so the answer comes last only in SVO and VSO
languages), places adpositions, adds affixes and forms questions by putting a question
phrase in the answer's slot, fronted or in place. Statements (and a few unanswered
questions) are pretraining text; questions are instructions; a response is the answer's
words and the language's full stop ("tuesday.", "星期二。"). Every word of it is one
pretraining taught in that language, and an untuned model, which goes on with whole
statements, does not pass by accident. (Restating the fact as the response was tried: a
model of the probe's size then got far fewer answers right, even tuned in every language.)
"""
from __future__ import annotations

from typing import Mapping

from pinchjax.data.toyworld import lexicon as lexicon_lib
from pinchjax.data.toyworld.facts import Fact

_ADPOSITION = {"next": "after", "prev": "before"}
_RELATIONAL_HEAD = {"opposite": "opposite", "category": "kind", "reverse": "reverse"}


class _Renderer:
  """Token lists for one language; `swap` writes some concepts with another language's word."""

  def __init__(self, lang: str, swap: Mapping[str, str] | None = None):
    self.lex = lexicon_lib.get(lang)
    self.typ = self.lex.typology
    self.swap = swap or {}

  def word(self, concept: str, oblique: bool = False) -> list[str]:
    if concept in self.swap:
      return [self.swap[concept]]
    word = self.lex.word(concept)
    return [self.typ.oblique.apply(word) if oblique and self.typ.oblique else word]

  def words(self, concepts: tuple[str, ...]) -> list[str]:
    return [t for c in concepts for t in self.word(c)]

  def fn(self, role: str) -> list[str]:
    """A function word's tokens; none where the language lacks the role (Russian copula)."""
    return self.lex.function[role].split() if role in self.lex.function else []

  def head(self, role: str) -> list[str]:
    """A definite head noun: "the opposite", "ال"-prefixed in Arabic, bare elsewhere."""
    (word,) = self.fn(role)
    if self.typ.definite:
      return [self.typ.definite.apply(word)]
    return self.fn("the") + [word]

  def adpositional(self, role: str, concept: str) -> list[str]:
    """"after monday", or "monday after" (with the case affix) where adpositions follow."""
    dependent, adposition = self.word(concept, oblique=True), self.fn(role)
    if self.typ.adposition == "pre":
      return adposition + dependent
    return dependent + adposition

  def clause(self, fact: Fact) -> tuple[list[str], list[str], list[str]]:
    """(subject, verb, object); the object is the answer."""
    answer = self.words(fact.answer)
    rel, args = fact.relation, fact.args
    if rel in _ADPOSITION:
      return self.adpositional(_ADPOSITION[rel], args[0]), self.fn("comes"), answer
    if rel in ("plus", "minus"):
      return self.word(args[0]) + self.fn(rel) + self.word(args[1]), self.fn("is"), answer
    if rel == "count":
      return self.words(args), self.fn("are"), answer
    dependent = self.words(args) if rel == "reverse" else self.word(args[0], oblique=True)
    of = self.fn("of")
    head = self.head(_RELATIONAL_HEAD[rel])
    subject = (head + of + dependent if self.typ.adposition == "pre"
               else dependent + of + head)
    return subject, self.fn("is"), answer

  def order(self, s: list[str], v: list[str], o: list[str]) -> list[str]:
    return {"SVO": s + v + o, "SOV": s + o + v, "VSO": v + s + o}[self.typ.order]

  def question(self, fact: Fact) -> list[str]:
    s, v, _ = self.clause(fact)
    q = self.fn("how_many") + self.fn("things") if fact.relation == "count" else self.fn("what")
    if self.typ.question == "in_situ":
      return self.order(s, v, q)
    if self.typ.question == "front_inv":
      return q + v + s
    return q + self.order(s, v, [])


def _text(tokens: list[str]) -> str:
  return " ".join(tokens)


def statement(fact: Fact, lang: str, swap: Mapping[str, str] | None = None) -> str:
  """The fact as a plain sentence with the language's full stop: pretraining text."""
  r = _Renderer(lang, swap)
  return _text(r.order(*r.clause(fact))) + r.typ.full_stop


def question(fact: Fact, lang: str) -> str:
  """The instruction asking for the fact's answer."""
  r = _Renderer(lang)
  opening, closing = r.typ.question_marks
  return opening + _text(r.question(fact)) + closing


def response(fact: Fact, lang: str) -> str:
  """The reference answer: its words and the language's full stop ("tuesday.")."""
  r = _Renderer(lang)
  return _text(r.words(fact.answer)) + r.typ.full_stop


def cloze(fact: Fact, lang: str) -> tuple[str, str]:
  """The statement split at its answer: (the words before the answer, the answer's words).

  In SOV languages the verb follows the answer and is left out: what precedes the answer
  already determines it."""
  r = _Renderer(lang)
  subject, verb, answer = r.clause(fact)
  marker = "\0"
  before = r.order(subject, verb, [marker])
  return _text(before[:before.index(marker)]), _text(answer)
