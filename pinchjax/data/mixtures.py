"""The paper's mixtures as pure functions: example ids -> a partition into language slices.

Every function returns `{lang: [ids]}` where
- the ids are disjoint across languages (an example is used in one language only: the
  multilingual share *replaces* English examples, it does not add to them),
- the union is exactly the `budget` ids chosen from the pool,
- shares are spread as evenly as integers allow (counts within one of each other); which
  languages get the remainder is decided by the seed,
- the result depends only on the arguments: same seed, same partition.

How a budget is chosen: the pool's distinct ids are sorted, permuted by `seed`, and the first
`budget` are taken; consecutive runs of that permutation then go to the languages in the
order given. Languages with zero examples are left out of the result.

Mixtures (names as registered by pinchjax.data.registry):
  mono(lang)          the whole budget in one language                  {ds}_mono_{lang}
  pinch(P)            P% spread over all languages, the rest English    {ds}_pinch_p{P}
                      (over the six seen languages only:               {ds}_pinch_seen_p{P})
  first_k(order, K)   budget split evenly over the first K of an order  {ds}_k{K}_o{ORDER}
  pair(l1, l2)        budget split 50/50 over two languages             {ds}_pair_{l1}_{l2}
"""
from __future__ import annotations

import fractions
import math
from typing import Sequence

import numpy as np

Partition = dict[str, list[str]]


def _rng(seed: int, *salt: int) -> np.random.Generator:
  return np.random.default_rng([seed, *salt])


def select(ids: Sequence[str], budget: int | None, seed: int) -> list[str]:
  """`budget` distinct ids (all when None) in an order fixed by `seed`."""
  pool = sorted(set(ids))
  budget = len(pool) if budget is None else budget
  if not 0 <= budget <= len(pool):
    raise ValueError(f"budget {budget} is not between 0 and the {len(pool)} available ids")
  order = _rng(seed, 0).permutation(len(pool))
  return [pool[i] for i in order[:budget]]


def spread(n: int, langs: Sequence[str], seed: int) -> dict[str, int]:
  """n split over langs as evenly as integers allow; the seed picks who gets one more."""
  if not langs:
    raise ValueError("no languages to spread examples over")
  if len(set(langs)) != len(langs):
    raise ValueError(f"languages repeat: {list(langs)}")
  q, r = divmod(n, len(langs))
  lucky = set(_rng(seed, 1).permutation(len(langs))[:r].tolist())
  return {lang: q + (i in lucky) for i, lang in enumerate(langs)}


def assign(chosen: Sequence[str], counts: dict[str, int]) -> Partition:
  """Consecutive runs of `chosen` to each language, in the dict's order; empties dropped."""
  if sum(counts.values()) != len(chosen):
    raise ValueError(f"counts {counts} do not add up to {len(chosen)} ids")
  out, start = {}, 0
  for lang, n in counts.items():
    if n:
      out[lang] = list(chosen[start:start + n])
    start += n
  return out


def multilingual_count(budget: int, percent: float) -> int:
  """floor(budget * P / 100), exactly for decimal P (1% of 4,640 is 46)."""
  if not 0 <= percent <= 100:
    raise ValueError(f"percent {percent} is not between 0 and 100")
  return math.floor(budget * fractions.Fraction(str(percent)) / 100)


def pinch(ids: Sequence[str], budget: int | None, langs: Sequence[str], percent: float,
          seed: int, base: str = "en") -> Partition:
  """P% of the budget spread evenly over `langs` (base included), the rest in `base`."""
  if base not in langs:
    raise ValueError(f"base language {base!r} is not among {list(langs)}")
  chosen = select(ids, budget, seed)
  n_multi = multilingual_count(len(chosen), percent)
  counts = spread(n_multi, langs, seed)
  counts[base] += len(chosen) - n_multi
  return assign(chosen, counts)


def uniform(ids: Sequence[str], budget: int | None, langs: Sequence[str], seed: int
            ) -> Partition:
  """The budget spread evenly over `langs`."""
  chosen = select(ids, budget, seed)
  return assign(chosen, spread(len(chosen), langs, seed))


def mono(ids: Sequence[str], budget: int | None, lang: str, seed: int) -> Partition:
  return {lang: select(ids, budget, seed)}


def first_k(ids: Sequence[str], budget: int | None, order: Sequence[str], k: int, seed: int
            ) -> Partition:
  """The budget spread evenly over the first k languages of `order`."""
  if not 1 <= k <= len(order):
    raise ValueError(f"k={k} is not between 1 and {len(order)}")
  return uniform(ids, budget, order[:k], seed)


def pair(ids: Sequence[str], budget: int | None, l1: str, l2: str, seed: int) -> Partition:
  return uniform(ids, budget, (l1, l2), seed)


def orderings(langs: Sequence[str], n: int, seed: int, first: str | None = "en"
              ) -> list[tuple[str, ...]]:
  """n distinct random orders of `langs`; `first` (English by default) always leads, so K=1
  is the English-only model in every ordering. Fewer orders exist than asked: an error."""
  rest = [l for l in langs if l != first]
  if first is not None and first not in langs:
    raise ValueError(f"first language {first!r} is not among {list(langs)}")
  if n > math.factorial(len(rest)):
    raise ValueError(f"only {math.factorial(len(rest))} orders of {rest} exist, asked {n}")
  rng, out = _rng(seed, 2), []
  while len(out) < n:
    order = tuple([first] if first else []) + tuple(rest[i] for i in rng.permutation(len(rest)))
    if order not in out:
      out.append(order)
  return out


def random_pairs(langs: Sequence[str], seed: int) -> list[tuple[str, str]]:
  """The languages split into disjoint random pairs (an even count is required)."""
  if len(langs) % 2:
    raise ValueError(f"cannot pair an odd number of languages: {list(langs)}")
  perm = [langs[i] for i in _rng(seed, 3).permutation(len(langs))]
  return [(perm[i], perm[i + 1]) for i in range(0, len(perm), 2)]
