"""The side-by-side protocol: two games per instruction, their verdicts, the item score.

Each instruction is judged twice, candidate in slot A then in slot B. The same winner both
times is a win for it; anything else (a split, a tie in either order) is a tie. Score: win 1,
tie 0.5, loss 0. A game whose verdict could not be read makes its item unscored; the scorer
counts those items rather than guessing them. Under a 5-level prompt only the direction of a
verdict counts for the score (its strength is kept with the verdict).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from pinchjax.judge import verdicts as V

# Where a game's verdict came from.
JUDGE = "judge"  # the backend (possibly from the cache)
IDENTICAL = "identical"  # both responses equal: a tie, nobody asked
LANGUAGE = "language"  # the fidelity rule: a wrong-language response loses, nobody asked

CANDIDATE_FIRST, CANDIDATE_SECOND = "A", "B"  # the candidate's slot in each of the two games


@dataclasses.dataclass(frozen=True)
class GameVerdict:
  """One game, as written to verdicts JSONL (one object a line)."""
  id: str
  lang: str
  candidate_run: str
  baseline_run: str
  candidate_slot: str  # "A" or "B"
  verdict: str | None  # slot verdict: "A", "B", "tie"; None when unreadable or failed
  strength: int  # 2 strong, 1 slight or plain, 0 tie (5-level prompts)
  source: str  # JUDGE, IDENTICAL or LANGUAGE
  error: str | None  # why verdict is None
  raw: str | None  # the judge's raw output
  probs: dict[str, float] | None  # verdict-token probabilities (local backend)
  cached: bool  # answered from the cache
  judge_id: str
  prompt_id: str
  prompt_hash: str
  key: str | None  # cache key; None for games nobody asked
  candidate_chars: int
  baseline_chars: int
  candidate_detected: str | None  # language identified in the candidate response
  baseline_detected: str | None
  candidate_in_language: bool | None  # None: not measurable
  baseline_in_language: bool | None

  @property
  def outcome(self) -> int | None:
    """+1 candidate won this game, 0 tie, -1 lost, None unreadable."""
    if self.verdict is None:
      return None
    if self.verdict == V.TIE:
      return 0
    return 1 if self.verdict == self.candidate_slot else -1

  def to_json(self) -> dict[str, Any]:
    out = dataclasses.asdict(self)
    out["outcome"] = self.outcome
    return out

  @classmethod
  def from_json(cls, obj: Mapping[str, Any], where: str = "verdict") -> GameVerdict:
    if not isinstance(obj, Mapping):
      raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in obj]
    if missing:
      raise ValueError(f"{where}: missing keys {missing}")
    return cls(**{n: obj[n] for n in names})


@dataclasses.dataclass(frozen=True)
class Item:
  """One instruction's two games combined."""
  lang: str
  id: str
  score: float | None  # 1 win, 0.5 tie, 0 loss; None when a game is unreadable
  first: int | None  # candidate outcome with the candidate in slot A
  second: int | None  # ... in slot B
  candidate_chars: int
  baseline_chars: int


def item_score(first: int | None, second: int | None) -> float | None:
  if first is None or second is None:
    return None
  if first == second == 1:
    return 1.0
  if first == second == -1:
    return 0.0
  return 0.5


def items(verdicts: Iterable[GameVerdict]) -> list[Item]:
  """Groups games into items, checking that each instruction has exactly its two games and
  that all games compare the same two runs."""
  games: dict[tuple[str, str], dict[str, GameVerdict]] = {}
  runs = set()
  for v in verdicts:
    runs.add((v.candidate_run, v.baseline_run))
    slots = games.setdefault((v.lang, v.id), {})
    if v.candidate_slot in slots:
      raise ValueError(f"two games for lang={v.lang!r} id={v.id!r} with the candidate in "
                       f"slot {v.candidate_slot}")
    slots[v.candidate_slot] = v
  if len(runs) > 1:
    raise ValueError(f"verdicts compare several pairs of runs {sorted(runs)}; score one "
                     "candidate against one baseline at a time")
  out = []
  for (lang, id_), slots in games.items():
    if set(slots) != {CANDIDATE_FIRST, CANDIDATE_SECOND}:
      raise ValueError(f"lang={lang!r} id={id_!r} has games for slots {sorted(slots)}; the "
                       "protocol needs both orders")
    a, b = slots[CANDIDATE_FIRST], slots[CANDIDATE_SECOND]
    out.append(Item(lang, id_, item_score(a.outcome, b.outcome), a.outcome, b.outcome,
                    a.candidate_chars, a.baseline_chars))
  return out


def diagnostics(verdicts: Sequence[GameVerdict], scored: Sequence[Item]) -> dict[str, Any]:
  """Bias and health numbers of one judging.

  - position_consistency: share of items judged in both orders (by the backend) whose two
    verdicts name the same response (or tie twice);
  - first_slot_preference: share of decisive judge verdicts that chose slot A (0.5 unbiased);
  - parse_error_rate / failure_rate: judge games whose output could not be read / that got
    no output at all (connection, timeout, server errors after retries);
  - mean_length_ratio: mean over items of candidate chars / baseline chars;
  - longer_wins_rate: share of decisive items won by the longer response (verbosity bias).
  """
  asked = [v for v in verdicts if v.source == JUDGE]
  parse_errors = sum(v.error is not None and v.raw is not None for v in asked)
  failures = sum(v.error is not None and v.raw is None for v in asked)
  decisive_games = [v for v in asked if v.verdict in (V.A, V.B)]
  judged_both = {(v.lang, v.id) for v in asked}
  both = [i for i in scored if (i.lang, i.id) in judged_both and i.score is not None]
  decisive_items = [i for i in scored if i.score in (0.0, 1.0)
                    and i.candidate_chars != i.baseline_chars]
  longer_wins = sum((i.score == 1.0) == (i.candidate_chars > i.baseline_chars)
                    for i in decisive_items)
  ratios = [i.candidate_chars / max(i.baseline_chars, 1) for i in scored]

  def share(num: int, den: int) -> float | None:
    return num / den if den else None

  return {
      "games": len(verdicts),
      "judge_games": len(asked),
      "cached_games": sum(v.cached for v in asked),
      "identical_games": sum(v.source == IDENTICAL for v in verdicts),
      "language_rule_games": sum(v.source == LANGUAGE for v in verdicts),
      "parse_errors": parse_errors,
      "failures": failures,
      "parse_error_rate": share(parse_errors, len(asked)),
      "failure_rate": share(failures, len(asked)),
      "position_consistency": share(sum(i.first == i.second for i in both), len(both)),
      "first_slot_preference": share(sum(v.verdict == V.A for v in decisive_games),
                                     len(decisive_games)),
      "mean_length_ratio": sum(ratios) / len(ratios) if ratios else None,
      "longer_wins_rate": share(longer_wins, len(decisive_items)),
  }
