"""Versioned translation prompts.

A template's `version` is its id plus a hash of its text, and is part of every cache key: an
edited template never reuses answers to the old one, even if someone forgets to bump the id.
"""
from __future__ import annotations

import dataclasses
import hashlib

from pinchjax import languages


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
  """A system message, a user message, and a stricter user message for the one retry.

  Fields are formatted with {source} and {target} (English language names) and {text}.
  """
  id: str
  system: str
  user: str
  retry: str

  @property
  def version(self) -> str:
    text = "\x00".join((self.system, self.user, self.retry))
    return f"{self.id}@{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"

  def messages(self, text: str, source_lang: str, target_lang: str, retry: bool = False
               ) -> list[dict[str, str]]:
    names = {"source": languages.get(source_lang).name, "target": languages.get(target_lang).name}
    user = self.retry if retry else self.user
    return [{"role": "system", "content": self.system.format(**names)},
            {"role": "user", "content": user.format(text=text, **names)}]


TEMPLATES: dict[str, PromptTemplate] = {t.id: t for t in (
    PromptTemplate(
        id="translate-v1",
        system=("You are a professional translator. Translate the user's text from {source} "
                "into {target}. Keep the meaning, tone and markdown formatting. Markers such "
                "as ⟦0⟧ stand for code or links: copy each one unchanged into the right place "
                "of the translation. Reply with the translation only."),
        user="{text}",
        retry=("Translate the following text into {target}. Your reply must be written in "
               "{target}, must not be a copy of the original, must keep every ⟦n⟧ marker "
               "exactly once, and must contain nothing but the translation.\n\n{text}"),
    ),
)}


def get(template_id: str) -> PromptTemplate:
  try:
    return TEMPLATES[template_id]
  except KeyError:
    raise ValueError(f"unknown prompt template {template_id!r}; known: "
                     f"{', '.join(sorted(TEMPLATES))}") from None
