"""Response-language identification with py3langid's shipped model (no downloads).

Responses mix languages at line granularity (a code block, a quoted English term), so a text
is classified line by line and the language with the most characters wins.
"""
from __future__ import annotations

import collections
import functools

import py3langid.langid as _langid

from pinchjax import languages


@functools.lru_cache(maxsize=None)
def _identifier(candidates: tuple[str, ...] | None):
  ident = _langid.LanguageIdentifier.from_model_file(_langid.MODEL_FILE, norm_probs=True)
  if candidates:
    ident.set_languages(list(candidates))
  return ident


def supported(code: str) -> bool:
  """Whether py3langid's model knows `code` (toy-world languages, for one, are unknown)."""
  return code in _identifier(None).nb_classes


def classify(text: str, candidates: tuple[str, ...] | None = None) -> tuple[str, float]:
  """(language code, probability) of one piece of text."""
  lang, prob = _identifier(candidates).classify(text)
  return str(lang), float(prob)


def identify(text: str, candidates: tuple[str, ...] | None = languages.PAPER_LANGUAGES
             ) -> str | None:
  """The dominant language of `text` by characters over its lines; None for empty text.

  `candidates` restricts the answer to a set of codes (default: the paper's 12), which is
  how a study asks "which of my languages is this"; pass None for all of py3langid's 97.
  """
  weights: collections.Counter[str] = collections.Counter()
  for line in text.splitlines():
    letters = sum(ch.isalpha() for ch in line)
    if letters < 2:  # punctuation, numbers, blank lines carry no language
      continue
    weights[classify(line, candidates)[0]] += letters
  if not weights:
    return None
  return weights.most_common(1)[0][0]


def matches(text: str, lang: str, candidates: tuple[str, ...] | None = languages.PAPER_LANGUAGES
            ) -> bool:
  """Whether `text` is in `lang` (which must be a registered code)."""
  languages.check(lang)
  return identify(text, candidates) == lang
