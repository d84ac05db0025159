"""Response-language fidelity: is a response written in its instruction's language?

The paper checked this by hand; here every response is identified automatically
(`pinchjax.data.langid`, choosing among the study's languages). A language the identifier
does not know (a toy-world language) is "unmeasured" rather than guessed; pass your own
`language_of` for such languages.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Iterable, Sequence

from pinchjax import languages
from pinchjax.data import langid

LanguageOf = Callable[[str], "str | None"]


@dataclasses.dataclass(frozen=True)
class Fidelity:
  detected: str | None  # the response's language; None when empty or unmeasured
  in_language: bool | None  # None: the instruction's language cannot be identified


def default_language_of(langs: Iterable[str]) -> tuple[LanguageOf, frozenset[str]]:
  """A langid detector choosing among the paper's languages plus `langs`, and the set of
  instruction languages it can measure."""
  wanted = tuple(sorted(set(languages.PAPER_LANGUAGES) | set(langs)))
  known = tuple(code for code in wanted if langid.supported(code))
  return (lambda text: langid.identify(text, known)), frozenset(known)


def measure(texts_and_langs: Sequence[tuple[str, str]],
            language_of: LanguageOf | None = None) -> list[Fidelity]:
  """Fidelity of each (response, instruction language) pair.

  With a custom `language_of`, every language counts as measurable.
  """
  if language_of is None:
    language_of, measurable = default_language_of(lang for _, lang in texts_and_langs)
  else:
    measurable = None
  out = []
  for text, lang in texts_and_langs:
    if measurable is not None and lang not in measurable:
      out.append(Fidelity(None, None))
      continue
    detected = language_of(text)
    out.append(Fidelity(detected, detected == lang))
  return out


def summarize(langs: Sequence[str], fidelities: Sequence[Fidelity]) -> dict:
  """Per language: responses, measured, in the instruction's language, share, and the
  detected languages' counts; plus the overall share."""
  by_lang: dict[str, list[Fidelity]] = collections.defaultdict(list)
  for lang, fid in zip(langs, fidelities, strict=True):
    by_lang[lang].append(fid)
  per_language = {}
  for lang, fids in sorted(by_lang.items()):
    measured = [f for f in fids if f.in_language is not None]
    hits = sum(bool(f.in_language) for f in measured)
    per_language[lang] = {
        "n": len(fids), "measured": len(measured), "in_language": hits,
        "share": hits / len(measured) if measured else None,
        "detected": dict(collections.Counter(str(f.detected) for f in measured).most_common()),
    }
  measured_total = sum(v["measured"] for v in per_language.values())
  hits_total = sum(v["in_language"] for v in per_language.values())
  return {"per_language": per_language,
          "share": hits_total / measured_total if measured_total else None,
          "measured": measured_total, "n": len(fidelities)}
