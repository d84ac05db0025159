"""Deterministic checkers for toy-world responses: the right answer, in the right language.

A response passes `check` when every word in it is a word of the instruction's language
(any inflected form, function words included; punctuation is ignored) and its content
words, in order, are exactly the answer or those of the fact's statement: for "what comes
after monday?", "tuesday." and "after monday comes tuesday." pass; "after monday comes
wednesday.", "tuesday wednesday", "monday" and the Finnish word for tuesday do not. The item
is read from the record's id (facts.Fact.id), so canonical records need no extra field.
"""
from __future__ import annotations

import collections
import functools
from typing import Any, Mapping

import gin

from pinchjax.data.toyworld import facts, lexicon, sentences


def item(record: Any) -> tuple[facts.Fact, str]:
  """(fact, language) of a canonical Record, or of a mapping with "id" and "lang"."""
  if isinstance(record, Mapping):
    fact_id, lang = record["id"], record["lang"]
  else:
    fact_id, lang = record.id, record.lang
  lexicon.get(lang)
  return facts.from_id(fact_id), lang


def analyses(text: str, lang: str) -> list[tuple[str, bool] | None]:
  """Each word of `text` as (concept or role, is_content) in `lang`, None if not its word."""
  lex = lexicon.get(lang)
  return [lex.analyze(t) for t in lexicon.tokens(text)]


def response_in_language(text: str, lang: str) -> bool:
  """Whether `text` has words and all of them belong to `lang`'s lexicon."""
  words = analyses(text, lang)
  return bool(words) and all(w is not None for w in words)


def answer_words(text: str, lang: str) -> list[str] | None:
  """The concepts a response names, in order; None unless it is all in `lang`."""
  words = analyses(text, lang)
  if not words or any(w is None for w in words):
    return None
  return [key for key, is_content in words if is_content]


@gin.register
def check(record: Any, response_text: str) -> bool:
  """Whether `response_text` answers the record's item correctly in the record's language."""
  fact, lang = item(record)
  said = answer_words(response_text, lang)
  return said is not None and said in (
      list(fact.answer), answer_words(sentences.statement(fact, lang), lang))


@functools.cache
def _language_of_surface() -> dict[str, str]:
  return {form: lang for lang, lex in lexicon.lexicons().items() for form in lex.surfaces}


@gin.register
def identify(text: str) -> str | None:
  """The toy language most of `text`'s words belong to (None if none does); ties go to
  the language of the earliest such word. For reports of which language a model answered in."""
  langs = [_language_of_surface().get(t) for t in lexicon.tokens(text)]
  counts = collections.Counter(l for l in langs if l is not None)
  if not counts:
    return None
  best = max(counts.values())
  return next(l for l in langs if l is not None and counts[l] == best)
