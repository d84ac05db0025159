"""The pretraining corpus: fact statements in each language plus a little parallel text.

Monolingual lines state facts ("tuesday comes after monday"). Every finite fact (all
successors, sums, differences, opposites and kinds) is stated at least once in every
language, so the facts instruction tuning asks about are facts the model could learn; the
rest of each language's lines are drawn at random (uniform over relations, then facts).

A `parallel_fraction` of the lines ties languages together, as incidental parallel text does
in real corpora, in three equally likely kinds: a dictionary line "word = word", a
parallel line "statement = statement", and a code-switched statement (one content word in
another language). There are no questions, question words or answers anywhere.
"""
from __future__ import annotations

import dataclasses
import functools
import random
from typing import Iterator, Mapping, Sequence

from pinchjax.data.toyworld import concepts, facts, lexicon, sentences

KINDS: tuple[str, ...] = ("fact", "dictionary", "parallel", "codeswitch")


@dataclasses.dataclass(frozen=True)
class Line:
  text: str
  langs: tuple[str, ...]  # one language, or the two a parallel line ties
  kind: str  # one of KINDS

  def to_json(self) -> dict[str, object]:
    return {"text": self.text, "langs": list(self.langs), "kind": self.kind}


@functools.cache
def finite_facts() -> tuple[facts.Fact, ...]:
  return tuple(f for r in facts.FINITE for f in facts.enumerate_finite(r))


def generate(seed: int, langs: Sequence[str], sentences_per_language: int,
             parallel_fraction: float = 0.1,
             language_weights: Mapping[str, float] | None = None) -> Iterator[Line]:
  """Yields the corpus lines in a shuffled, seed-determined order.

  Args:
    seed: the same seed gives the same corpus.
    langs: the languages (codes of the toy world).
    sentences_per_language: monolingual lines of a language of weight 1; at least the number
      of finite facts (every one is stated in every language).
    parallel_fraction: share of parallel and code-switched lines in the whole corpus.
    language_weights: relative amounts of monolingual text per language (default: equal),
      e.g. to study how a language's share of pretraining matters; unnamed languages 1.
  """
  if not 0 <= parallel_fraction < 1:
    raise ValueError(f"parallel_fraction must be in [0, 1), got {parallel_fraction}")
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
    if n < len(finite_facts()):
      raise ValueError(f"{lang}: {n} sentences cannot state all {len(finite_facts())} "
                       "facts once; raise sentences_per_language or the language's weight")
    stated = list(finite_facts()) + [_random_fact(rng) for _ in range(n - len(finite_facts()))]
    lines += [Line(sentences.statement(f, lang), (lang,), "fact") for f in stated]
  n_parallel = round(len(lines) * parallel_fraction / (1 - parallel_fraction))
  if n_parallel and len(langs) < 2:
    raise ValueError("parallel text needs at least two languages")
  lines += [_parallel_line(rng, langs) for _ in range(n_parallel)]
  rng.shuffle(lines)
  yield from lines


def _random_fact(rng: random.Random) -> facts.Fact:
  relation = rng.choice(facts.RELATIONS)
  if relation in facts.PROCEDURAL:
    return facts.sample_list(relation, rng)
  return rng.choice(facts.enumerate_finite(relation))


def _parallel_line(rng: random.Random, langs: Sequence[str]) -> Line:
  l1, l2 = rng.sample(list(langs), 2)
  kind = rng.choice(KINDS[1:])
  if kind == "dictionary":
    concept = rng.choice(concepts.CONCEPTS)
    text = f"{lexicon.get(l1).word(concept)} = {lexicon.get(l2).word(concept)}"
  elif kind == "parallel":
    fact = _random_fact(rng)
    text = f"{sentences.statement(fact, l1)} = {sentences.statement(fact, l2)}"
  else:
    fact = _random_fact(rng)
    concept = rng.choice(fact.args + fact.answer)
    text = sentences.statement(fact, l1, swap={concept: lexicon.get(l2).word(concept)})
  return Line(text, (l1, l2), kind)
