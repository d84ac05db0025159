"""Readers for the instruction-data layouts researchers already have -> canonical records.

  lima       LIMA JSONL: {"conversations": [user, assistant, user, ...], "source": ...};
             the first user/assistant pair is kept. id = "lima-{n}", n the 0-based line.
  oasst      OpenAssistant exports (oasst1/oasst2), flat messages or nested trees: each
             usable root prompt with its best reviewed, best-ranked assistant reply
             (pinchjax.data.oasst). id = "oasst-{prompt message_id}".
  alpaca     Alpaca JSON array (or JSONL) of {instruction, input, output}: a non-empty input
             is appended to the instruction after a blank line. id = `id` if present, else
             "alpaca-{n}" (n: 0-based item or line index, stable when bad rows are skipped).
  aya        Aya JSONL {inputs, targets, language}; `language` is a code or English name,
             else `language_code` (ISO 639-3, e.g. "arb" for "Standard Arabic").
             id = `id` if present, else "aya-{n}".
  alpacafarm AlpacaFarm-style evaluation sets (JSON array or JSONL) of {instruction, input}
             and optionally a reference `output`; responses may be empty. id = "eval-{n}".
  canonical  pinchjax's own JSONL (pinchjax.data.canonical).

Malformed input (bad JSON, missing or non-string fields, empty text, a language that
disagrees with `lang`) raises a RecordError naming file, line (or array item) and field; with
on_error="skip" it is counted in `Skipped`. Records that are valid but not selected (an OASST
message in another language, a prompt with no reply, a later LIMA turn) are counted in
`ReadResult.filtered`, so every input row is accounted for.
"""
from __future__ import annotations

import collections
from typing import Callable

from pinchjax import languages
from pinchjax.data import canonical, rows
from pinchjax.data.canonical import OnError, RecordError, Skipped
from pinchjax.data.oasst import read_oasst


# Aya's `language_code` is ISO 639-3; these are the paper's and the Slavic languages.
ISO639_3 = {"arb": "ar", "ara": "ar", "zho": "zh", "cmn": "zh", "ces": "cs", "eng": "en",
            "est": "et", "ekk": "et", "fin": "fi", "heb": "he", "hin": "hi", "ita": "it",
            "rus": "ru", "spa": "es", "swh": "sw", "swa": "sw", "srp": "sr", "hrv": "hr",
            "slv": "sl", "pol": "pl", "slk": "sk"}


def _language_code(path: str, loc, obj: dict) -> str:
  """A registered code from `language` (a code or English name) or `language_code`."""
  value = rows.field(path, loc, obj, "language")
  if value in languages.known():
    return value
  for code in languages.known():
    if languages.get(code).name.lower() == value.strip().lower():
      return code
  iso3 = obj.get("language_code")
  if isinstance(iso3, str) and iso3 in ISO639_3:
    return ISO639_3[iso3]
  raise RecordError(path, loc, "language", f"unknown language {value!r} "
                    f"(language_code {iso3!r})")


def read_lima(path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  skipped, filtered = Skipped(), collections.Counter()

  def convert(loc, n, obj):
    if not isinstance(obj, dict) or "conversations" not in obj:
      raise RecordError(path, loc, "conversations", "is missing")
    turns = obj["conversations"]
    if not isinstance(turns, list) or len(turns) < 2:
      raise RecordError(path, loc, "conversations", "needs at least a user and an assistant turn")
    if not all(isinstance(t, str) for t in turns[:2]):
      raise RecordError(path, loc, "conversations", "turns must be strings")
    if len(turns) > 2:
      filtered["later turns of multi-turn conversations (first pair kept)"] += 1
    source = obj.get("source") if isinstance(obj.get("source"), str) else None
    return canonical.make_record(path, loc, id=f"lima-{n}", lang=lang, instruction=turns[0],
                                 response=turns[1], source=f"lima/{source}" if source else "lima")
  return rows.ReadResult(rows.read_rows(path, on_error, convert, skipped), skipped, filtered)


def _joined(instruction: str, extra: str) -> str:
  return f"{instruction}\n\n{extra}" if extra.strip() else instruction


def read_alpaca(path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    ident = obj.get("id", f"alpaca-{n}") if isinstance(obj, dict) else None
    return canonical.make_record(
        path, loc, id=ident, lang=lang,
        instruction=_joined(rows.field(path, loc, obj, "instruction"),
                            rows.field(path, loc, obj, "input", required=False)),
        response=rows.field(path, loc, obj, "output"), source="alpaca")
  return rows.ReadResult(rows.read_rows(path, on_error, convert, skipped), skipped,
                         collections.Counter())


def read_aya(path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    code = _language_code(path, loc, obj)
    if code != lang:
      raise RecordError(path, loc, "language", f"is {code!r} but the file is for {lang!r}")
    return canonical.make_record(
        path, loc, id=obj.get("id", f"aya-{n}"), lang=lang,
        instruction=rows.field(path, loc, obj, "inputs"),
        response=rows.field(path, loc, obj, "targets"), source="aya")
  return rows.ReadResult(rows.read_rows(path, on_error, convert, skipped), skipped,
                         collections.Counter())


def read_alpacafarm(path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    return canonical.make_record(
        path, loc, id=obj.get("id", f"eval-{n}") if isinstance(obj, dict) else None, lang=lang,
        instruction=_joined(rows.field(path, loc, obj, "instruction"),
                            rows.field(path, loc, obj, "input", required=False)),
        response=rows.field(path, loc, obj, "output", required=False), source="alpacafarm",
        require_response=False)
  return rows.ReadResult(rows.read_rows(path, on_error, convert, skipped), skipped,
                         collections.Counter())


def read_canonical(path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  skipped = Skipped()
  records = canonical.read_jsonl(path, on_error, lang=lang, require_response=False,
                                 skipped=skipped)
  return rows.ReadResult(records, skipped, collections.Counter())


READERS: dict[str, Callable[[str, str, OnError], ReadResult]] = {
    "lima": read_lima, "oasst": read_oasst, "alpaca": read_alpaca, "aya": read_aya,
    "alpacafarm": read_alpacafarm, "canonical": read_canonical,
}


def read(fmt: str, path: str, lang: str, on_error: OnError = "raise") -> rows.ReadResult:
  """Reads `path` in layout `fmt` (one of READERS) as records in language `lang`."""
  if fmt not in READERS:
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(READERS)}")
  return READERS[fmt](path, languages.check(lang), on_error)
