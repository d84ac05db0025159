"""What every judge backend implements: answer a list of games, one answer each."""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, Callable, Mapping, Sequence

from pinchjax.judge import prompts


@dataclasses.dataclass(frozen=True)
class Game:
  """One judge question: an instruction and two responses in their slots."""
  key: str  # cache key (see pinchjax.judge.cache.game_key)
  lang: str
  instruction: str
  response_a: str
  response_b: str
  record_a: Mapping[str, Any]  # the generation record whose response is in slot A
  record_b: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Answer:
  """What a judge said in one game. `raw` None means no answer at all (a failed call)."""
  raw: str | None
  verdict: str | None  # "A", "B", "tie" or None (see pinchjax.judge.verdicts)
  strength: int = 0
  error: str | None = None
  probs: dict[str, float] | None = None


OnAnswer = Callable[[int, Answer], None]


class Backend(abc.ABC):
  """A judge. Subclasses set `judge_id` and implement `judge`."""

  # Whether answers go to the cache. A backend whose answers cost nothing and depend on
  # more than the cache key (a checker reading a hidden answer key) opts out.
  cacheable: bool = True

  @property
  @abc.abstractmethod
  def judge_id(self) -> str:
    """Who judges (model and server, checkpoint, checker), for verdicts and cache keys."""

  def params(self) -> dict[str, Any]:
    """Decoding parameters that change answers; part of every cache key."""
    return {}

  @abc.abstractmethod
  def judge(self, games: Sequence[Game], prompt: prompts.JudgePrompt,
            on_answer: OnAnswer) -> None:
    """Answers every game, calling `on_answer(index, answer)` as soon as each is known
    (the caller caches it then, so a killed run loses nothing already answered)."""

  def stats(self) -> dict[str, Any]:
    """Counts of what the backend did (calls, retries, ...), for the scores file."""
    return {}
