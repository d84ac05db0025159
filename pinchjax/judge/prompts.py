"""Versioned side-by-side judge prompts.

A prompt is frozen once released: changing its text changes its hash, and the hash is part
of every verdict and every cache key, so a reworded prompt can never be mistaken for the old
one. New wording gets a new id.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from pinchjax import languages

# The verdict vocabulary of each scale, in the order the prompt lists them.
VERDICTS_3 = ("[[A]]", "[[B]]", "[[C]]")
VERDICTS_5 = ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]")


@dataclasses.dataclass(frozen=True)
class JudgePrompt:
  """One judge prompt.

  Attributes:
    prompt_id: stable name, recorded with every verdict.
    scale: 3 (A / B / tie) or 5 (strong and slight preferences).
    system: system message; `{language}` is the instruction's language name.
    user: user message; `{instruction}`, `{response_a}`, `{response_b}`, `{language}`.
    answer_prefix: for judges that are scored rather than asked to write (the local
      backend): text appended as the start of the judge's answer, after which the next token
      is the verdict letter. Empty for prompts that let the judge reason first.
  """
  prompt_id: str
  scale: int
  system: str
  user: str
  answer_prefix: str = ""

  @property
  def hash(self) -> str:
    blob = json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

  def messages(self, instruction: str, response_a: str, response_b: str,
               lang: str) -> list[dict[str, str]]:
    """The chat messages of one game (response_a in the first slot)."""
    name = language_name(lang)
    return [
        {"role": "system", "content": self.system.format(language=name)},
        {"role": "user", "content": self.user.format(
            instruction=instruction, response_a=response_a, response_b=response_b,
            language=name)},
    ]


def language_name(lang: str) -> str:
  """The English name of a registered code; an unregistered (e.g. toy-world) code as is."""
  try:
    return languages.get(lang).name
  except languages.UnknownLanguageError:
    return lang


_TASK = (
    "You are an impartial referee. A user wrote a request and two assistants, A and B, each "
    "answered it. Decide which answer serves the user better, considering whether it does "
    "what was asked, whether it is correct, and whether it is clear and appropriately "
    "detailed. The request is written in {language}, so a good answer is written in "
    "{language} as well; an answer in another language serves this user poorly. Neither "
    "the order of the answers nor their length is a sign of quality.")

_USER = (
    "### Request\n{instruction}\n\n"
    "### Answer A\n{response_a}\n### End of answer A\n\n"
    "### Answer B\n{response_b}\n### End of answer B")

_PROMPTS = (
    JudgePrompt(
        prompt_id="sxs-v1", scale=3,
        system=_TASK + " First explain your reasoning in a few sentences. Then finish with "
        "exactly one verdict on its own line: [[A]] if answer A is better, [[B]] if answer "
        "B is better, [[C]] if they are about equally good.",
        user=_USER),
    JudgePrompt(
        prompt_id="sxs5-v1", scale=5,
        system=_TASK + " First explain your reasoning in a few sentences. Then finish with "
        "exactly one verdict on its own line: [[A>>B]] if A is much better, [[A>B]] if A is "
        "slightly better, [[A=B]] if they are about equally good, [[B>A]] if B is slightly "
        "better, [[B>>A]] if B is much better.",
        user=_USER),
    JudgePrompt(
        prompt_id="sxs-direct-v1", scale=3,
        system=_TASK + " Reply with the verdict only: [[A]] if answer A is better, [[B]] if "
        "answer B is better, [[C]] if they are about equally good.",
        user=_USER, answer_prefix="[["),
)

PROMPTS: dict[str, JudgePrompt] = {p.prompt_id: p for p in _PROMPTS}


def get(prompt_id: str) -> JudgePrompt:
  try:
    return PROMPTS[prompt_id]
  except KeyError:
    raise ValueError(f"unknown judge prompt {prompt_id!r}; known: {', '.join(PROMPTS)}"
                     ) from None
