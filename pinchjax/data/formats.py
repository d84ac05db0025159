"""Readers for the instruction-data layouts researchers already have -> canonical records.

  lima       LIMA JSONL: {"conversations": [user, assistant, user, ...], "source": ...};
             the first user/assistant pair is kept. id = "lima-{n}", n the 0-based line.
  oasst      OpenAssistant exports (oasst1/oasst2), either flat message JSONL (`message_id`,
             `parent_id`, `role`, `text`, `lang`, `rank`, ...) or nested trees (`prompt` with
             `replies`): each root prompt with its best-ranked assistant reply (lowest `rank`;
             unranked replies only when none is ranked; ties go to the first in the file).
             id = "oasst-{prompt message_id}".
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
import dataclasses
import json
from typing import Any, Callable, Iterator

from pinchjax import languages
from pinchjax.data import canonical
from pinchjax.data.canonical import OnError, Record, RecordError, Skipped


@dataclasses.dataclass
class ReadResult:
  records: list[Record]
  skipped: Skipped
  filtered: collections.Counter  # reason -> count of valid rows deliberately not used

  def summary(self) -> str:
    parts = [f"read {len(self.records)} records", self.skipped.summary()]
    for reason, n in self.filtered.most_common():
      parts.append(f"not selected: {n} x {reason}")
    return "\n".join(parts)

  def to_json(self) -> dict[str, Any]:
    return {"records": len(self.records), "skipped": self.skipped.to_json(),
            "filtered": dict(self.filtered)}


def _items(path: str, on_error: OnError, skipped: Skipped) -> Iterator[tuple[int | str, Any]]:
  """(location, value) for a JSON array file ("item n") or a JSONL file (line number)."""
  with open(path, encoding="utf-8") as f:
    head = f.read(4096).lstrip()
  if head.startswith("["):
    with open(path, encoding="utf-8") as f:
      try:
        data = json.load(f)
      except json.JSONDecodeError as e:
        raise RecordError(path, e.lineno, None, f"malformed JSON array ({e.msg})") from None
    for i, item in enumerate(data):
      yield f"item {i}", item
  else:
    yield from canonical.iter_json_lines(path, on_error, skipped)


def _field(path: str, loc, obj: Any, key: str, required: bool = True, default: str = "") -> str:
  if not isinstance(obj, dict):
    raise RecordError(path, loc, None, f"expected a JSON object, got {type(obj).__name__}")
  if key not in obj or obj[key] is None:
    if required:
      raise RecordError(path, loc, key, "is missing")
    return default
  value = obj[key]
  if not isinstance(value, str):
    raise RecordError(path, loc, key, f"expected a string, got {type(value).__name__}")
  return value


def _row_index(loc: int | str) -> int:
  """The 0-based line or item index: ids built from it do not shift when a bad row is
  skipped."""
  return loc - 1 if isinstance(loc, int) else int(loc.split()[-1])


def _read_rows(path: str, on_error: OnError, convert: Callable[[int | str, int, Any], Record],
               skipped: Skipped) -> list[Record]:
  """Applies `convert(location, row index, value)` to each row, handling errors."""
  out, seen = [], set()
  for loc, obj in _items(path, on_error, skipped):
    try:
      record = convert(loc, _row_index(loc), obj)
      if record.id in seen:
        raise RecordError(path, loc, "id", f"duplicate id {record.id!r}")
    except RecordError as e:
      canonical.handle(e, on_error, skipped)
      continue
    seen.add(record.id)
    out.append(record)
  return out


# Aya's `language_code` is ISO 639-3; these are the paper's and the Slavic languages.
ISO639_3 = {"arb": "ar", "ara": "ar", "zho": "zh", "cmn": "zh", "ces": "cs", "eng": "en",
            "est": "et", "ekk": "et", "fin": "fi", "heb": "he", "hin": "hi", "ita": "it",
            "rus": "ru", "spa": "es", "swh": "sw", "swa": "sw", "srp": "sr", "hrv": "hr",
            "slv": "sl", "pol": "pl", "slk": "sk"}


def _language_code(path: str, loc, obj: dict) -> str:
  """A registered code from `language` (a code or English name) or `language_code`."""
  value = _field(path, loc, obj, "language")
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


def read_lima(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
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
  return ReadResult(_read_rows(path, on_error, convert, skipped), skipped, filtered)


def _best_reply(replies: list[dict]) -> dict | None:
  """The lowest-ranked assistant reply; unranked ones only if none is ranked; file order on ties."""
  assistants = [r for r in replies if r.get("role") == "assistant" and not r.get("deleted")]
  if not assistants:
    return None
  ranked = [r for r in assistants if isinstance(r.get("rank"), (int, float))]
  return min(ranked, key=lambda r: r["rank"]) if ranked else assistants[0]


def _count_descendants(replies: list[dict]) -> int:
  """Messages nested under these replies (not the replies themselves)."""
  total = 0
  for r in replies:
    children = [c for c in r.get("replies") or [] if isinstance(c, dict)]
    total += len(children) + _count_descendants(children)
  return total


def _oasst_record(path: str, loc, prompt: dict, reply: dict, lang: str) -> Record:
  mid = _field(path, loc, prompt, "message_id")
  return canonical.make_record(
      path, loc, id=f"oasst-{mid}", lang=lang, instruction=_field(path, loc, prompt, "text"),
      response=_field(path, loc, reply, "text"), source="oasst")


def read_oasst(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  skipped, filtered = Skipped(), collections.Counter()
  records: list[Record] = []
  roots: list[tuple[Any, dict]] = []  # flat export: (location, root prompt) in file order
  children: dict[str, list[dict]] = collections.defaultdict(list)

  def select(loc, prompt: dict, replies: list[dict]) -> None:
    for key in ("message_id", "text", "lang"):
      _field(path, loc, prompt, key)
    if prompt.get("deleted"):
      filtered["deleted prompts"] += 1
    elif prompt["lang"] != lang:
      filtered[f"prompts in another language ({prompt['lang']})"] += 1
    elif (reply := _best_reply(replies)) is None:
      filtered["prompts without an assistant reply"] += 1
    else:
      records.append(_oasst_record(path, loc, prompt, reply, lang))

  for loc, obj in _items(path, on_error, skipped):
    try:
      if isinstance(obj, dict) and isinstance(obj.get("prompt"), dict):  # nested tree
        replies = obj["prompt"].get("replies") or []
        if not isinstance(replies, list):
          raise RecordError(path, loc, "replies", "expected a list")
        replies = [r for r in replies if isinstance(r, dict)]
        select(loc, obj["prompt"], replies)
        below = _count_descendants(replies)
        if below:
          filtered["messages below the first turn"] += below
        continue
      for key in ("message_id", "role", "text"):
        _field(path, loc, obj, key)
      if obj.get("parent_id") is None:
        if obj["role"] != "prompter":
          raise RecordError(path, loc, "role", "a root message must be a 'prompter' message")
        roots.append((loc, obj))
      else:
        children[obj["parent_id"]].append(obj)
    except RecordError as e:
      canonical.handle(e, on_error, skipped)
  for loc, root in roots:
    try:
      select(loc, root, children.get(root["message_id"], []))
    except RecordError as e:
      canonical.handle(e, on_error, skipped)
  deeper = sum(len(v) for v in children.values())
  first_replies = sum(len(children.get(r["message_id"], [])) for _, r in roots)
  if deeper - first_replies:
    filtered["messages below the first turn"] += deeper - first_replies
  ids = [r.id for r in records]
  if len(set(ids)) != len(ids):
    dup = next(i for i, c in collections.Counter(ids).items() if c > 1)
    raise RecordError(path, None, "message_id", f"duplicate prompt id {dup!r}")
  return ReadResult(records, skipped, filtered)


def _joined(instruction: str, extra: str) -> str:
  return f"{instruction}\n\n{extra}" if extra.strip() else instruction


def read_alpaca(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    ident = obj.get("id", f"alpaca-{n}") if isinstance(obj, dict) else None
    return canonical.make_record(
        path, loc, id=ident, lang=lang,
        instruction=_joined(_field(path, loc, obj, "instruction"),
                            _field(path, loc, obj, "input", required=False)),
        response=_field(path, loc, obj, "output"), source="alpaca")
  return ReadResult(_read_rows(path, on_error, convert, skipped), skipped, collections.Counter())


def read_aya(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    code = _language_code(path, loc, obj)
    if code != lang:
      raise RecordError(path, loc, "language", f"is {code!r} but the file is for {lang!r}")
    return canonical.make_record(
        path, loc, id=obj.get("id", f"aya-{n}"), lang=lang,
        instruction=_field(path, loc, obj, "inputs"), response=_field(path, loc, obj, "targets"),
        source="aya")
  return ReadResult(_read_rows(path, on_error, convert, skipped), skipped, collections.Counter())


def read_alpacafarm(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  skipped = Skipped()

  def convert(loc, n, obj):
    return canonical.make_record(
        path, loc, id=obj.get("id", f"eval-{n}") if isinstance(obj, dict) else None, lang=lang,
        instruction=_joined(_field(path, loc, obj, "instruction"),
                            _field(path, loc, obj, "input", required=False)),
        response=_field(path, loc, obj, "output", required=False), source="alpacafarm",
        require_response=False)
  return ReadResult(_read_rows(path, on_error, convert, skipped), skipped, collections.Counter())


def read_canonical(path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  skipped = Skipped()
  records = canonical.read_jsonl(path, on_error, lang=lang, require_response=False,
                                 skipped=skipped)
  return ReadResult(records, skipped, collections.Counter())


READERS: dict[str, Callable[[str, str, OnError], ReadResult]] = {
    "lima": read_lima, "oasst": read_oasst, "alpaca": read_alpaca, "aya": read_aya,
    "alpacafarm": read_alpacafarm, "canonical": read_canonical,
}


def read(fmt: str, path: str, lang: str, on_error: OnError = "raise") -> ReadResult:
  """Reads `path` in layout `fmt` (one of READERS) as records in language `lang`."""
  if fmt not in READERS:
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(READERS)}")
  return READERS[fmt](path, languages.check(lang), on_error)
