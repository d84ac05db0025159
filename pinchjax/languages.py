"""The language registry: the paper's 12 languages, its seen/unseen split, the Slavic set.

Other ISO 639-1 codes are added for a run by configuration: the gin bindings
`register_all.languages` (rows of code, name, family, script) and `register_all.files`
(TSV or JSON files of such rows; every command's `--languages FILE` flag is an alias), which
the `pinchjax` entry point applies before a command runs; in Python, `register`. Every lookup
of an unknown code raises an error that lists the known codes and says how to register one.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from typing import Any, Sequence

import gin


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


FIELDS = ("code", "name", "family", "script")


def _fields(row: Any, where: str) -> tuple[str, str, str, str]:
  values = [row.get(f) for f in FIELDS] if isinstance(row, dict) else row
  if (not isinstance(values, (list, tuple)) or len(values) != 4
      or not all(isinstance(v, str) and v.strip() for v in values)):
    raise ValueError(f"{where}: a language needs four non-empty strings {FIELDS}, got {row!r}")
  return tuple(v.strip() for v in values)


def load_file(path: str) -> list[tuple[str, str, str, str]]:
  """Language rows from a file: JSON (a list of {code, name, family, script} objects or of
  4-item lists) if its name ends in .json, else TSV (one language a line in that column order; an
  optional header line "code name family script"; blank and # lines are ignored)."""
  with open(path, encoding="utf-8-sig") as f:
    if path.lower().endswith(".json"):
      try:
        rows = json.load(f)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
      if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of languages")
      return [_fields(r, f"{path}: item {i}") for i, r in enumerate(rows)]
    out = []
    for number, cells in enumerate(csv.reader(f, delimiter="\t"), 1):
      if not cells or not "".join(cells).strip() or cells[0].startswith("#"):
        continue
      if number == 1 and [c.strip().lower() for c in cells] == list(FIELDS):
        continue
      out.append(_fields(cells, f"{path}:{number}"))
    return out


@gin.configurable
def register_all(languages: Sequence[Any] = (), files: Sequence[str] = ()
                 ) -> tuple[Language, ...]:
  """Registers `languages` (rows of code, name, family, script, or dicts with those keys)
  and the rows of each file in `files` (see load_file); returns what was registered."""
  rows = [_fields(r, f"register_all.languages[{i}]") for i, r in enumerate(languages)]
  for path in files:
    rows.extend(load_file(path))
  return tuple(register(*r) for r in rows)


def get(code: str) -> Language:
  try:
    return _REGISTRY[code]
  except KeyError:
    raise UnknownLanguageError(
        f"unknown language code {code!r}; known codes: {', '.join(sorted(_REGISTRY))}. "
        "Register it for a run with --languages FILE.tsv|FILE.json (rows of code, name, "
        "family, script) or --gin.register_all.languages=\"[('xx', 'Name', 'Family', "
        "'Script')]\"") from None


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
