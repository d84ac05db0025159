"""Instruction task families and the parallel train / eval instruction sets.

Each of the eight families (facts.RELATIONS: next, prev, plus, minus, opposite, category,
count, reverse) asks for one kind of fact. An item is a fact; its id (facts.Fact.id) is the
same in every language, so the sets are parallel, and train and eval hold disjoint ids. A
finite family's facts are split by a seeded shuffle (`eval_fraction` to eval); count and
reverse draw `list_items` distinct random lists each and split them the same way.
"""
from __future__ import annotations

import random
from typing import Sequence

from pinchjax.data.canonical import Record
from pinchjax.data.toyworld import facts, sentences

FAMILIES: tuple[str, ...] = facts.RELATIONS
SPLITS: tuple[str, ...] = ("train", "eval")
SOURCE = "toyworld"


def split_items(seed: int, eval_fraction: float = 0.3, list_items: int = 400
                ) -> dict[str, list[facts.Fact]]:
  """{"train": facts, "eval": facts}: disjoint, in a seed-determined order."""
  if not 0 < eval_fraction < 1:
    raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
  out: dict[str, list[facts.Fact]] = {s: [] for s in SPLITS}
  for family in FAMILIES:
    rng = random.Random(f"pinchjax-toyworld-items-{seed}-{family}")
    if family in facts.FINITE:
      items = list(facts.enumerate_finite(family))
      rng.shuffle(items)
    else:
      unique: dict[str, facts.Fact] = {}
      while len(unique) < list_items:
        fact = facts.sample_list(family, rng)
        unique.setdefault(fact.id, fact)
      items = list(unique.values())
    n_eval = round(len(items) * eval_fraction)
    out["eval"] += items[:n_eval]
    out["train"] += items[n_eval:]
  for split in SPLITS:
    random.Random(f"pinchjax-toyworld-order-{seed}-{split}").shuffle(out[split])
  return out


def record(fact: facts.Fact, lang: str) -> Record:
  """The canonical record of one item in one language, with its reference answer."""
  return Record(id=fact.id, lang=lang, instruction=sentences.question(fact, lang),
                response=sentences.response(fact, lang), source=SOURCE)


def records(items: Sequence[facts.Fact], lang: str) -> list[Record]:
  return [record(f, lang) for f in items]
