"""Facts of the toy world, independent of language: a relation, its arguments, its answer.

Relations: next / prev (days, months, numbers), plus / minus (results within 0-19),
opposite, category (which kind a concept is), count (how many nouns a list has, 2-9) and
reverse (a list of 2-5 nouns backwards). The first six are finite and enumerable; count and
reverse are skills over lists drawn at random.

A fact's id names it completely ("next-monday", "plus-three.five", "count-dog.red.bread"),
so a record's id alone tells a checker what the right answer is in every language.
"""
from __future__ import annotations

import dataclasses
import functools
import random

from pinchjax.data.toyworld import concepts as c

FINITE: tuple[str, ...] = ("next", "prev", "plus", "minus", "opposite", "category")
PROCEDURAL: tuple[str, ...] = ("count", "reverse")
RELATIONS: tuple[str, ...] = FINITE + PROCEDURAL
# List lengths of the procedural relations.
LIST_LENGTHS: dict[str, tuple[int, int]] = {"count": (2, 9), "reverse": (2, 5)}


@dataclasses.dataclass(frozen=True)
class Fact:
  relation: str
  args: tuple[str, ...]
  answer: tuple[str, ...]

  @property
  def id(self) -> str:
    return f"{self.relation}-{'.'.join(self.args)}"


class FactError(ValueError):
  pass


def make(relation: str, args: tuple[str, ...]) -> Fact:
  """The fact `relation(args)` with its answer; FactError if the world has no such fact."""
  return Fact(relation, tuple(args), _answer(relation, tuple(args)))


def from_id(fact_id: str) -> Fact:
  relation, sep, rest = fact_id.partition("-")
  if not sep or not rest:
    raise FactError(f"{fact_id!r} is not a toy-world id (RELATION-ARG.ARG...)")
  return make(relation, tuple(rest.split(".")))


def _answer(relation: str, args: tuple[str, ...]) -> tuple[str, ...]:
  unknown = [a for a in args if a not in c.CONCEPTS]
  if unknown:
    raise FactError(f"{relation}: unknown concept {unknown[0]!r}")
  answer: str | tuple[str, ...] | None
  if relation in ("next", "prev") and len(args) == 1:
    answer = (c.successor if relation == "next" else c.predecessor)(args[0])
  elif relation in ("plus", "minus") and len(args) == 2 and all(a in c.NUMBERS for a in args):
    a, b = (c.value(x) for x in args)
    answer = c.number(a + b if relation == "plus" else a - b)
  elif relation == "opposite" and len(args) == 1 and args[0] in c.ADJECTIVES:
    answer = c.opposite(args[0])
  elif relation == "category" and len(args) == 1 and args[0] in c.MEMBERS:
    answer = c.category(args[0])
  elif relation in PROCEDURAL and _is_list(relation, args):
    answer = c.number(len(args)) if relation == "count" else args[::-1]
  else:
    raise FactError(f"no toy-world fact {relation}{args}")
  if answer is None:
    raise FactError(f"{relation}{args} has no answer in the toy world")
  return (answer,) if isinstance(answer, str) else answer


def _is_list(relation: str, args: tuple[str, ...]) -> bool:
  lo, hi = LIST_LENGTHS[relation]
  return lo <= len(args) <= hi and len(set(args)) == len(args) and all(
      a in c.LIST_NOUNS for a in args)


@functools.cache
def enumerate_finite(relation: str) -> tuple[Fact, ...]:
  """Every fact of a finite relation, in a fixed order."""
  if relation in ("next", "prev"):
    candidates = [(x,) for items, _ in c.SEQUENCES.values() for x in items]
  elif relation in ("plus", "minus"):
    candidates = [(a, b) for a in c.NUMBERS for b in c.NUMBERS]
  elif relation == "opposite":
    candidates = [(x,) for x in c.ADJECTIVES]
  elif relation == "category":
    candidates = [(x,) for x in c.MEMBERS]
  else:
    raise FactError(f"{relation!r} is not a finite relation; finite: {FINITE}")
  out = []
  for args in candidates:
    try:
      out.append(make(relation, args))
    except FactError:  # no successor of nineteen, negative differences, sums over 19
      continue
  return tuple(out)


def sample_list(relation: str, rng: random.Random) -> Fact:
  """A random count or reverse fact."""
  lo, hi = LIST_LENGTHS[relation]
  return make(relation, tuple(rng.sample(c.LIST_NOUNS, rng.randint(lo, hi))))
