"""Is an imported file in the language it is imported as? A vote over its records.

Each record's text is identified on its own (pinchjax.data.langid over all of py3langid's
languages) and the file's majority language is the one most records get. A record with fewer than
MIN_LETTERS letters does not vote (when none has that many, all texts together cast one
vote, and with fewer letters than that in all the file is not checked); one short record may
be misread, a majority of them rarely is. At most
SAMPLE records, evenly spaced, vote, so a large file is checked in seconds. A language the
identifier does not know (py3langid's 97, e.g. none of the toy world's) is not checked: the
caller gets a note instead.
"""
from __future__ import annotations

import collections
from typing import Callable, Sequence

from pinchjax.data.canonical import Record, RecordError

SAMPLE = 2000
MIN_LETTERS = 12  # fewer letters than this are often misread ("Hola" is read as Serbian)


def _letters(text: str) -> int:
  return sum(ch.isalpha() for ch in text)


def check(path: str, records: Sequence[Record], text: Callable[[Record], str]
          ) -> list[str]:
  """Checks every language's records in `path`; returns notes on what was not checked.

  Raises RecordError naming the file, its detected majority language and that language's
  share when the majority is not the records' language.
  """
  from pinchjax.data import langid  # pylint: disable=import-outside-toplevel
  by_lang: dict[str, list[Record]] = collections.defaultdict(list)
  for r in records:
    by_lang[r.lang].append(r)
  notes = []
  for lang, recs in by_lang.items():
    if not langid.supported(lang):
      notes.append(f"{path}: language not checked: the identifier does not know {lang!r}")
      continue
    step = max(1, len(recs) // SAMPLE)
    texts = [text(r) for r in recs[::step][:SAMPLE]]
    votes = collections.Counter(
        langid.identify(t, candidates=None) for t in texts if _letters(t) >= MIN_LETTERS)
    if not votes:  # every text too short to vote alone: the texts together cast one vote
      pooled = " ".join(" ".join(t.split()) for t in texts)
      if _letters(pooled) >= MIN_LETTERS:
        votes[langid.identify(pooled, candidates=None)] += 1
    total = sum(votes.values())
    if not total:
      notes.append(f"{path}: language not checked: too little {lang!r} text "
                   f"({_letters(' '.join(texts))} letters)")
      continue
    top, n = votes.most_common(1)[0]
    if top != lang:
      raise RecordError(
          path, None, None, f"the file is imported as {lang!r} but its majority language "
          f"is {top!r} ({n / total:.0%} of {total} records checked; {lang!r}: "
          f"{votes[lang] / total:.0%}); pass --no-lang-check if {lang!r} is right")
  return notes
