"""Judging a candidate run against a baseline: games built, cache consulted, backend asked.

    verdicts = judge_pairs(candidate_records, baseline_records, backend, cache="judge.db")
    scores = judge_run("gen_fi.jsonl", "judged/", baseline="base_fi.jsonl")  # files, gin

Every instruction yields two games (candidate in slot A, then in slot B). Games that need no
judge are settled here: identical responses tie; with `wrong_language_loses`, a response not
in the instruction's language loses to one that is (two such responses tie). The rest go to
the cache, then (deduplicated by key) to the backend, each answer cached as it arrives.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, Sequence

import gin

from pinchjax import atomic_file
from pinchjax.judge import cache as cache_lib
from pinchjax.judge import dotted
from pinchjax.judge import fidelity
from pinchjax.judge import prompts
from pinchjax.judge import protocol
from pinchjax.judge import records
from pinchjax.judge import scoring
from pinchjax.judge import verdict_io
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base
# Registered with gin so judge files can name them.
from pinchjax.judge.backends import openai_compatible  # pylint: disable=unused-import
from pinchjax.judge.backends import verifiable  # pylint: disable=unused-import


class _Progress:
  """Answered/total, rate and ETA on stderr, at most every `every_s` seconds."""

  def __init__(self, total: int, enabled: bool, every_s: float = 5.0):
    self.total, self.enabled, self.every_s = total, enabled, every_s
    self.done = 0
    self.start = self.last = time.monotonic()

  def tick(self) -> None:
    self.done += 1
    now = time.monotonic()
    if self.enabled and (now - self.last >= self.every_s or self.done == self.total):
      self.last = now
      rate = self.done / max(now - self.start, 1e-9)
      eta = (self.total - self.done) / rate if rate else float("inf")
      print(f"judge: {self.done}/{self.total} games asked, {rate:.1f}/s, ETA {eta:.0f}s",
            file=sys.stderr, flush=True)


def _rule_verdict(candidate_ok: bool | None, baseline_ok: bool | None,
                  candidate_slot: str) -> str | None:
  """The fidelity rule's slot verdict, or None when the judge must decide."""
  if candidate_ok is None or baseline_ok is None or (candidate_ok and baseline_ok):
    return None
  if candidate_ok == baseline_ok:
    return V.TIE
  baseline_slot = V.B if candidate_slot == V.A else V.A
  return candidate_slot if candidate_ok else baseline_slot


def judge_pairs(candidates: Sequence[records.Record], baselines: Sequence[records.Record],
                backend: base.Backend, *, prompt: str = "sxs-v1",
                cache: str | cache_lib.Cache | None = None, wrong_language_loses: bool = False,
                language_of: fidelity.LanguageOf | None = None,
                progress: bool = True) -> list[protocol.GameVerdict]:
  """Judges every candidate record against the baseline record with the same (lang, id).

  Args:
    candidates / baselines: generation records `{id, lang, instruction, response, run,
      decode_config}` (baselines may be references without `run`).
    backend: the judge (pinchjax.judge.backends.*).
    prompt: a judge prompt id (pinchjax.judge.prompts.PROMPTS).
    cache: an SQLite path or an open Cache; None asks everything afresh.
    wrong_language_loses: settle games with a wrong-language response without the judge.
    language_of: response-language identifier (default: py3langid over the study's
      languages); see pinchjax.judge.fidelity.
    progress: print progress to stderr.

  Returns:
    Two GameVerdicts per candidate record, candidate order, slot A game first.
  """
  judge_prompt = prompts.get(prompt)
  pairs = records.pair(candidates, baselines)
  fids = fidelity.measure(
      [(r["response"], r["lang"]) for pair in pairs for r in pair], language_of)
  store = cache_lib.Cache(cache) if isinstance(cache, str) else cache
  try:
    return _judge(pairs, fids, backend, judge_prompt, store, wrong_language_loses, progress)
  finally:
    if isinstance(cache, str):
      store.close()


def _judge(pairs: Sequence[tuple[dict, dict]], fids: Sequence[fidelity.Fidelity],
           backend: base.Backend, prompt: prompts.JudgePrompt,
           store: cache_lib.Cache | None, wrong_language_loses: bool,
           progress: bool) -> list[protocol.GameVerdict]:
  out: list[protocol.GameVerdict] = []
  pending: dict[str, list[int]] = {}  # cache key -> indices into `out` awaiting its answer
  games: dict[str, base.Game] = {}
  params = backend.params()
  for n, (cand, base_rec) in enumerate(pairs):
    cand_fid, base_fid = fids[2 * n], fids[2 * n + 1]
    for slot in (protocol.CANDIDATE_FIRST, protocol.CANDIDATE_SECOND):
      a, b = (cand, base_rec) if slot == V.A else (base_rec, cand)
      verdict = protocol.GameVerdict(
          id=cand["id"], lang=cand["lang"], candidate_run=cand["run"],
          baseline_run=base_rec["run"], candidate_slot=slot, verdict=None, strength=0,
          source=protocol.JUDGE, error=None, raw=None, probs=None, cached=False,
          judge_id=backend.judge_id, prompt_id=prompt.prompt_id, prompt_hash=prompt.hash,
          key=None, candidate_chars=len(cand["response"]),
          baseline_chars=len(base_rec["response"]), candidate_detected=cand_fid.detected,
          baseline_detected=base_fid.detected, candidate_in_language=cand_fid.in_language,
          baseline_in_language=base_fid.in_language)
      rule = (_rule_verdict(cand_fid.in_language, base_fid.in_language, slot)
              if wrong_language_loses else None)
      if cand["response"] == base_rec["response"]:
        verdict = dataclasses.replace(verdict, verdict=V.TIE, source=protocol.IDENTICAL)
      elif rule is not None:
        verdict = dataclasses.replace(verdict, verdict=rule, strength=int(rule != V.TIE),
                                      source=protocol.LANGUAGE)
      else:
        key = cache_lib.game_key(backend.judge_id, params, prompt.prompt_id, prompt.hash,
                                 cand["lang"], cand["instruction"], a["response"],
                                 b["response"])
        verdict = dataclasses.replace(verdict, key=key)
        pending.setdefault(key, []).append(len(out))
        games.setdefault(key, base.Game(key, cand["lang"], cand["instruction"],
                                        a["response"], b["response"], a, b))
      out.append(verdict)

  def settle(key: str, answer: base.Answer, cached: bool) -> None:
    for i in pending[key]:
      out[i] = dataclasses.replace(out[i], verdict=answer.verdict, strength=answer.strength,
                                   error=answer.error, raw=answer.raw, probs=answer.probs,
                                   cached=cached)

  use_cache = store is not None and backend.cacheable
  to_ask = []
  for key, game in games.items():
    hit = store.get(key) if use_cache else None
    if hit is None:
      to_ask.append(game)
    else:
      settle(key, hit, cached=True)

  meter = _Progress(len(to_ask), progress)

  answered: set[int] = set()

  def on_answer(index: int, answer: base.Answer) -> None:
    answered.add(index)
    key = to_ask[index].key
    if use_cache and answer.raw is not None:
      store.put(key, backend.judge_id, prompt.prompt_id, answer)
    settle(key, answer, cached=False)
    meter.tick()

  if to_ask:
    backend.judge(to_ask, prompt, on_answer)
  if len(answered) != len(to_ask):  # a lost game would silently shrink the scored set
    raise RuntimeError(f"backend {backend.judge_id} answered {len(answered)} of "
                       f"{len(to_ask)} games")
  return out


@gin.configurable
def judge_run(candidate: str, out_dir: str, baseline: str | None = None,
              references: str | None = None, cache: str | None = None, *,
              backend: base.Backend = gin.REQUIRED, prompt: str = "sxs-v1",
              wrong_language_loses: bool = False,
              language_of: str | fidelity.LanguageOf | None = None, n_boot: int = 1000,
              seed: int = 0, progress: bool = True) -> dict[str, Any]:
  """Judges one generations file against a baseline run's or reference responses.

  `language_of` identifies response languages for fidelity (default py3langid); toy-world
  languages need the toy world's own, 'pinchjax.data.toyworld.checkers.identify'.
  """
  if (baseline is None) == (references is None):
    raise ValueError("give exactly one of baseline (a run's generations) or references")
  cands = records.read(candidate)
  bases = (records.read(baseline) if baseline is not None
           else records.read(references, default_run="references"))
  os.makedirs(out_dir, exist_ok=True)
  verdicts = judge_pairs(
      cands, bases, backend, prompt=prompt, wrong_language_loses=wrong_language_loses,
      language_of=dotted.resolve(language_of) if language_of is not None else None,
      cache=cache or os.path.join(out_dir, "judge_cache.sqlite"), progress=progress)
  verdict_io.write_verdicts(os.path.join(out_dir, "verdicts.jsonl"), verdicts)
  scores = scoring.score(verdicts, n_boot=n_boot, seed=seed)
  scores["calls"] = backend.stats()
  scores["inputs"] = {"candidate": candidate, "baseline": baseline, "references": references}
  atomic_file.write(os.path.join(out_dir, "scores.json"),
                    [json.dumps(scores, indent=2, ensure_ascii=False)])
  return scores
