"""How many instruction items the toy world should have, worked out from its concept tables and
the build's parameters by the rules the generator documents, not by running the generator."""
from __future__ import annotations

from pinchjax.data.toyworld import concepts as c


def family_sizes(list_items: int) -> dict[str, int]:
  """Items of each task family before the train/eval split."""
  n = len(c.NUMBERS)  # the numbers 0 .. n-1
  # Every day and month has a successor and a predecessor (they wrap); the last number has
  # no successor and the first no predecessor.
  steps = (n - 1) + len(c.DAYS) + len(c.MONTHS)
  # Pairs (a, b) of numbers with a + b < n; as many with a - b >= 0.
  sums = n * (n + 1) // 2
  return {"next": steps, "prev": steps, "plus": sums, "minus": sums,
          "opposite": len(c.ADJECTIVES),
          "category": sum(len(members) for members in c.CATEGORIES.values()),
          "count": list_items, "reverse": list_items}


def split_sizes(eval_fraction: float = 0.3, list_items: int = 400
                ) -> dict[str, dict[str, int]]:
  """split -> family -> items per language: each family sends round(size * fraction) to eval."""
  sizes = family_sizes(list_items)
  evals = {f: round(k * eval_fraction) for f, k in sizes.items()}
  return {"eval": evals, "train": {f: sizes[f] - evals[f] for f in sizes}}
