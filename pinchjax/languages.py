"""The language registry: the paper's 12 languages, its seen/unseen split, the Slavic set.

Other ISO 639-1 codes can be added with `register`. Every lookup of an unknown code raises
an error that lists the known codes, so a typo in a gin file fails loudly.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Language:
  code: str  # ISO 639-1
  name: str  # English name
  family: str
  script: str


_REGISTRY: dict[str, Language] = {}


def register(code: str, name: str, family: str, script: str) -> Language:
  """Adds a language; re-registering a code with different facts is an error."""
  if len(code) != 2 or not code.isalpha() or not code.islower():
    raise ValueError(f"language code {code!r} is not a lower-case ISO 639-1 code")
  lang = Language(code, name, family, script)
  old = _REGISTRY.get(code)
  if old is not None and old != lang:
    raise ValueError(f"language {code!r} is already registered as {old}")
  _REGISTRY[code] = lang
  return lang


for _row in (
    ("ar", "Arabic", "Afro-Asiatic", "Arabic"),
    ("zh", "Chinese", "Sino-Tibetan", "Han"),
    ("cs", "Czech", "Indo-European", "Latin"),
    ("en", "English", "Indo-European", "Latin"),
    ("et", "Estonian", "Uralic", "Latin"),
    ("fi", "Finnish", "Uralic", "Latin"),
    ("he", "Hebrew", "Afro-Asiatic", "Hebrew"),
    ("hi", "Hindi", "Indo-European", "Devanagari"),
    ("it", "Italian", "Indo-European", "Latin"),
    ("ru", "Russian", "Indo-European", "Cyrillic"),
    ("es", "Spanish", "Indo-European", "Latin"),
    ("sw", "Swahili", "Niger-Congo", "Latin"),
    # The Slavic follow-up (section 4.1) adds these.
    ("sr", "Serbian", "Indo-European", "Cyrillic"),
    ("hr", "Croatian", "Indo-European", "Latin"),
    ("sl", "Slovenian", "Indo-European", "Latin"),
    ("pl", "Polish", "Indo-European", "Latin"),
    ("sk", "Slovak", "Indo-European", "Latin"),
):
  register(*_row)

# The paper's order (table 1), English included.
PAPER_LANGUAGES: tuple[str, ...] = (
    "ar", "zh", "cs", "en", "et", "fi", "he", "hi", "it", "ru", "es", "sw")
SEEN: tuple[str, ...] = ("en", "ar", "fi", "it", "ru", "sw")
UNSEEN: tuple[str, ...] = ("cs", "et", "he", "hi", "es", "zh")
SLAVIC: tuple[str, ...] = ("ru", "sr", "hr", "sl", "pl", "sk", "cs")

_SETS = {"paper": PAPER_LANGUAGES, "seen": SEEN, "unseen": UNSEEN, "slavic": SLAVIC}


class UnknownLanguageError(ValueError):
  pass


def get(code: str) -> Language:
  try:
    return _REGISTRY[code]
  except KeyError:
    raise UnknownLanguageError(
        f"unknown language code {code!r}; known codes: {', '.join(sorted(_REGISTRY))} "
        "(add others with pinchjax.languages.register)") from None


def check(code: str) -> str:
  """Returns `code` if it is registered, else raises UnknownLanguageError."""
  return get(code).code


def known() -> tuple[str, ...]:
  return tuple(sorted(_REGISTRY))


def resolve(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
  """A set name (paper, seen, unseen, slavic), a comma list, or a sequence -> codes."""
  if isinstance(spec, str):
    if spec in _SETS:
      return _SETS[spec]
    spec = [s.strip() for s in spec.split(",") if s.strip()]
  return tuple(check(c) for c in spec)
