"""Checks on one translated segment: empty, markers, copy of the source, length, language.

Each failed check is a short name (EMPTY, ...). The language and copy checks need enough
letters to mean something: "OK" or "Python" may rightly stay as they are, and py3langid is
unreliable on a few words.
"""
from __future__ import annotations

import dataclasses

import gin

from pinchjax import languages
from pinchjax.data import langid
from pinchjax.translate import segment

EMPTY = "empty"
MARKERS = "markers"  # a ⟦n⟧ placeholder lost, duplicated or invented
UNTRANSLATED = "untranslated"
LENGTH = "length_ratio"
LANGUAGE = "language"
ALL = (EMPTY, MARKERS, UNTRANSLATED, LENGTH, LANGUAGE)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class CheckConfig:
  """Thresholds.

  Attributes:
    min_letters: the copy, length and language checks apply to segments with at least this
      many letters (in the source, and in the answer for the language check).
    min_ratio / max_ratio: allowed len(answer) / len(source) in characters; wide, since
      Chinese runs to about a third of English and the reverse about three times.
  """
  min_letters: int = 20
  min_ratio: float = 0.2
  max_ratio: float = 5.0


def _letters(text: str) -> int:
  return sum(ch.isalpha() for ch in text)


def _normalized(text: str) -> str:
  return " ".join(text.casefold().split())


def check(source: segment.Segment, answer: str, source_lang: str, target_lang: str,
          config: CheckConfig) -> list[str]:
  """The names of the checks `answer` fails as a translation of `source` (none: good)."""
  if not answer.strip():
    return [EMPTY]
  failed = []
  if segment.placeholders(answer) != list(range(len(source.spans))):
    failed.append(MARKERS)
  if _letters(source.text) < config.min_letters:
    return failed
  if _normalized(answer) == _normalized(source.text):
    return failed + [UNTRANSLATED]
  if not config.min_ratio <= len(answer) / len(source.text) <= config.max_ratio:
    failed.append(LENGTH)
  prose = segment.strip_placeholders(answer)
  if langid.supported(target_lang) and _letters(prose) >= config.min_letters:
    candidates = tuple(sorted(c for c in {*languages.PAPER_LANGUAGES, source_lang, target_lang}
                              if langid.supported(c)))
    if langid.identify(prose, candidates) != target_lang:
      failed.append(LANGUAGE)
  return failed
