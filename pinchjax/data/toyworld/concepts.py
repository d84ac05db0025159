"""The toy world's language-independent knowledge: concepts, their kinds and relations.

A concept is named by its English word (the English lexicon is these keys), so ids and
reports stay readable. Facts (successors, sums, opposites, membership) are functions of
these tables; every language only supplies words for them.
"""
from __future__ import annotations

NUMBERS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen")
DAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS: tuple[str, ...] = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december")
COLOURS: tuple[str, ...] = (
    "red", "blue", "green", "yellow", "black", "white", "brown", "purple")
ANIMALS: tuple[str, ...] = (
    "dog", "cat", "horse", "cow", "bird", "fish", "sheep", "goat", "lion", "mouse")
FOODS: tuple[str, ...] = (
    "bread", "rice", "milk", "cheese", "apple", "egg", "soup", "honey", "salt", "meat")
OPPOSITE_PAIRS: tuple[tuple[str, str], ...] = (
    ("big", "small"), ("hot", "cold"), ("fast", "slow"), ("long", "short"), ("good", "bad"),
    ("happy", "sad"), ("light", "dark"), ("high", "low"), ("wet", "dry"), ("rich", "poor"))
ADJECTIVES: tuple[str, ...] = tuple(w for pair in OPPOSITE_PAIRS for w in pair)

# Members of each category, keyed by the category's own concept (a noun in every language).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "number": NUMBERS, "day": DAYS, "month": MONTHS, "colour": COLOURS, "animal": ANIMALS,
    "food": FOODS}
MEMBERS: tuple[str, ...] = tuple(m for members in CATEGORIES.values() for m in members)
# Sequences with a successor relation; days and months wrap around, numbers do not.
SEQUENCES: dict[str, tuple[tuple[str, ...], bool]] = {
    "number": (NUMBERS, False), "day": (DAYS, True), "month": (MONTHS, True)}
# Nouns that lists (counting, reversal) are made of.
LIST_NOUNS: tuple[str, ...] = COLOURS + ANIMALS + FOODS

CONCEPTS: tuple[str, ...] = (
    NUMBERS + DAYS + MONTHS + COLOURS + ANIMALS + FOODS + ADJECTIVES + tuple(CATEGORIES))
assert len(set(CONCEPTS)) == len(CONCEPTS), "concept keys must be unique"

_OPPOSITE = {a: b for a, b in OPPOSITE_PAIRS} | {b: a for a, b in OPPOSITE_PAIRS}
_CATEGORY_OF = {m: cat for cat, members in CATEGORIES.items() for m in members}


def successor(concept: str) -> str | None:
  """The next item of its sequence (days/months wrap), None after nineteen or if none."""
  return _step(concept, +1)


def predecessor(concept: str) -> str | None:
  return _step(concept, -1)


def _step(concept: str, delta: int) -> str | None:
  for items, cyclic in SEQUENCES.values():
    if concept in items:
      i = items.index(concept) + delta
      if cyclic:
        return items[i % len(items)]
      return items[i] if 0 <= i < len(items) else None
  return None


def opposite(concept: str) -> str:
  return _OPPOSITE[concept]


def category(concept: str) -> str:
  return _CATEGORY_OF[concept]


def number(value: int) -> str | None:
  """The number concept for `value`, or None outside the world's range."""
  return NUMBERS[value] if 0 <= value < len(NUMBERS) else None


def value(number_concept: str) -> int:
  return NUMBERS.index(number_concept)
