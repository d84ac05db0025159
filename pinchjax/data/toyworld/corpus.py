"""The pretraining corpus: fact statements in each language plus a little parallel text.

Monolingual documents (one a line) are runs of 1 to `max_sentences` statements in one
language, each ended by the language's full stop ("tuesday comes after monday. three plus
five is eight."), so a model learns that text goes on in the language it is in. Every
finite fact (all successors, sums, differences, opposites and kinds) is stated at least once
in every language, so the facts instruction tuning asks about are facts the model could
learn; the other statements are drawn at random (uniform over relations, then facts).

A `question_fraction` of each language's sentences are questions, each a document of its
own ("what comes after monday?"), as real text has questions: a base model knows every
language's question words and word order, but never sees a question answered, so answering
one is what tuning teaches. No document holds a question and its answer, none an
instruction frame.

A `parallel_fraction` of the documents ties languages together, as incidental parallel text
does in real corpora, in three equally likely kinds: a dictionary line "word = word"
(content and function words), a parallel line "statement. = statement.", and a
code-switched statement (one content word in another language); `parallel_kinds` weights
them otherwise.

A `digit_fraction` of the monolingual statements writes their numbers in digits ("three plus
five is 8" in every language alike): shared anchors, as real languages share digits.
"""
from __future__ import annotations

import dataclasses
import functools
import random
from typing import Iterator, Mapping, Sequence

from pinchjax.data.toyworld import concepts, facts, lexicon, sentences

KINDS: tuple[str, ...] = ("fact", "question", "dictionary", "parallel", "codeswitch")
MONOLINGUAL_KINDS: tuple[str, ...] = KINDS[:2]
PARALLEL_KINDS: tuple[str, ...] = KINDS[2:]


@dataclasses.dataclass(frozen=True)
class Line:
  text: str
  langs: tuple[str, ...]  # one language, or the two a parallel line ties
  kind: str  # one of KINDS
  sentences: int = 1  # monolingual sentences in the document


@functools.cache
def finite_facts() -> tuple[facts.Fact, ...]:
  return tuple(f for r in facts.FINITE for f in facts.enumerate_finite(r))


def generate(seed: int, langs: Sequence[str], sentences_per_language: int,
             parallel_fraction: float = 0.1, question_fraction: float = 0.1,
             max_sentences: int = 4,
             language_weights: Mapping[str, float] | None = None,
             parallel_kinds: Mapping[str, float] | None = None,
             digit_fraction: float = 0.0) -> Iterator[Line]:
  """Yields the corpus documents (one a line) in a shuffled, seed-determined order.

  Args:
    seed: the same seed gives the same corpus.
    langs: the languages (codes of the toy world).
    sentences_per_language: monolingual sentences of a language of weight 1; its statements
      (the sentences that are not questions) must number at least the 583 finite facts.
    parallel_fraction: share of parallel and code-switched documents in the whole corpus.
    question_fraction: share of each language's sentences that are questions.
    max_sentences: the most statements in one monolingual document.
    language_weights: relative amounts of monolingual text per language (default: equal),
      e.g. to study how a language's share of pretraining matters; unnamed languages 1.
    parallel_kinds: relative amounts of the PARALLEL_KINDS among the parallel documents
      (default: equal); unnamed kinds 0 when any is named.
    digit_fraction: share of monolingual statements that write numbers as digits.
  """
  for name, value in (("parallel_fraction", parallel_fraction),
                      ("question_fraction", question_fraction),
                      ("digit_fraction", digit_fraction)):
    if not 0 <= value < 1:
      raise ValueError(f"{name} must be in [0, 1), got {value}")
  kinds = dict(parallel_kinds or dict.fromkeys(PARALLEL_KINDS, 1.0))
  unknown = sorted(set(kinds) - set(PARALLEL_KINDS))
  if unknown or not any(v > 0 for v in kinds.values()) or min(kinds.values()) < 0:
    raise ValueError(f"parallel_kinds must weigh {list(PARALLEL_KINDS)} (non-negative, one "
                     f"positive), got {kinds}")
  if max_sentences < 1:
    raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
  weights = dict(language_weights or {})
  extra = sorted(set(weights) - set(langs))
  if extra:
    raise ValueError(f"language_weights names {extra}, which are not among {list(langs)}")
  for lang in langs:
    lexicon.get(lang)
  rng = random.Random(f"pinchjax-toyworld-corpus-{seed}")
  lines = []
  for lang in langs:
    n = round(sentences_per_language * weights.get(lang, 1.0))
    n_questions = round(n * question_fraction)
    n_random = n - n_questions - len(finite_facts())
    if n_random < 0:
      raise ValueError(f"{lang}: {n - n_questions} statements cannot state all "
                       f"{len(finite_facts())} facts once; raise sentences_per_language or "
                       "the language's weight")
    stated = list(finite_facts()) + [_random_fact(rng) for _ in range(n_random)]
    rng.shuffle(stated)
    start = 0
    while start < len(stated):
      end = start + rng.randint(1, max_sentences)
      run = stated[start:end]
      # (no draw without digits: the default corpus stays what it was)
      text = " ".join(sentences.statement(f, lang, swap=_digits(f) if digit_fraction
                                          and rng.random() < digit_fraction else None)
                      for f in run)
      lines.append(Line(text, (lang,), "fact", len(run)))
      start = end
    lines += [Line(sentences.question(_random_fact(rng), lang), (lang,), "question")
              for _ in range(n_questions)]
  n_parallel = round(len(lines) * parallel_fraction / (1 - parallel_fraction))
  if n_parallel and len(langs) < 2:
    raise ValueError("parallel text needs at least two languages")
  weights = None if parallel_kinds is None else [kinds.get(k, 0.0) for k in PARALLEL_KINDS]
  lines += [_parallel_line(rng, langs, weights) for _ in range(n_parallel)]
  rng.shuffle(lines)
  yield from lines


def _random_fact(rng: random.Random) -> facts.Fact:
  relation = rng.choice(facts.RELATIONS)
  if relation in facts.PROCEDURAL:
    return facts.sample_list(relation, rng)
  return rng.choice(facts.enumerate_finite(relation))


def _digits(fact: facts.Fact) -> dict[str, str]:
  """The fact's numbers written as digits, the same in every language."""
  return {c: str(concepts.NUMBERS.index(c)) for c in fact.args + fact.answer
          if c in concepts.NUMBERS}


def _parallel_line(rng: random.Random, langs: Sequence[str],
                   weights: Sequence[float] | None) -> Line:
  l1, l2 = rng.sample(list(langs), 2)
  kind = (rng.choice(PARALLEL_KINDS) if weights is None  # the default corpus, as it was
          else rng.choices(PARALLEL_KINDS, weights)[0])
  if kind == "dictionary":
    lex1, lex2 = lexicon.get(l1), lexicon.get(l2)
    shared_roles = tuple(r for r in lex1.function if r in lex2.function)
    key = rng.choice(concepts.CONCEPTS + shared_roles)
    if key in concepts.CONCEPTS:
      text = f"{lex1.word(key)} = {lex2.word(key)}"
    else:
      text = f"{lex1.function[key]} = {lex2.function[key]}"
  elif kind == "parallel":
    fact = _random_fact(rng)
    text = f"{sentences.statement(fact, l1)} = {sentences.statement(fact, l2)}"
  else:
    fact = _random_fact(rng)
    concept = rng.choice(fact.args + fact.answer)
    text = sentences.statement(fact, l1, swap={concept: lexicon.get(l2).word(concept)})
  return Line(text, (l1, l2), kind)
