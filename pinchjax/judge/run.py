"""Judging one generations file against a baseline run's or reference responses: what
`pinchjax judge` and the study runner call.

    from pinchjax.judge.run import judge_run
    scores = judge_run("gen/p10_fi.jsonl", "judged/p10_fi", baseline="gen/base_fi.jsonl")

Writes OUT/verdicts.jsonl (one game a line) and OUT/scores.json, and caches every answer in
OUT/judge_cache.sqlite (or `cache`). The backend and the protocol's settings are gin bindings
of `judge_run` (the files in gin/judges/ set them).
"""
from __future__ import annotations

import os
from typing import Any

import gin

from pinchjax import atomic_file
from pinchjax.data import generations
from pinchjax.judge import fidelity
from pinchjax.judge import runner
from pinchjax.judge import scoring
from pinchjax.judge import verdict_io
from pinchjax.judge.backends import base
# Registered with gin so judge files can name them.
from pinchjax.judge.backends import openai_compatible  # pylint: disable=unused-import
from pinchjax.judge.backends import verifiable  # pylint: disable=unused-import


@gin.configurable
def judge_run(candidate: str, out_dir: str, baseline: str | None = None,
              references: str | None = None, cache: str | None = None, *,
              backend: base.Backend = gin.REQUIRED, prompt: str = "sxs-v1",
              wrong_language_loses: bool = False,
              language_of: fidelity.LanguageOf | None = None, n_boot: int = 1000,
              seed: int = 0, progress: bool = True) -> dict[str, Any]:
  """Judges one generations file against a baseline run's or reference responses.

  `language_of` identifies response languages for fidelity (default py3langid); toy-world
  languages need the toy world's own, `@pinchjax.data.toyworld.checkers.identify` in gin.
  """
  if (baseline is None) == (references is None):
    raise ValueError("give exactly one of baseline (a run's generations) or references "
                     "(pinchjax judge: --baseline or --references)")
  if language_of is not None and not callable(language_of):
    raise ValueError(f"judge_run.language_of must be a function (a gin reference such as "
                     f"@pinchjax.data.toyworld.checkers.identify), got {language_of!r}")
  cands = generations.read(candidate)
  bases = (generations.read(baseline) if baseline is not None
           else generations.read(references, default_run="references"))
  os.makedirs(out_dir, exist_ok=True)
  verdicts = runner.judge_pairs(
      cands, bases, backend, prompt=prompt, wrong_language_loses=wrong_language_loses,
      language_of=language_of,
      cache=cache or os.path.join(out_dir, "judge_cache.sqlite"), progress=progress)
  verdict_io.write_verdicts(os.path.join(out_dir, "verdicts.jsonl"), verdicts)
  scores = scoring.score(verdicts, n_boot=n_boot, seed=seed)
  scores["calls"] = backend.stats()
  scores["inputs"] = {"candidate": candidate, "baseline": baseline, "references": references}
  atomic_file.write_json(os.path.join(out_dir, "scores.json"), scores, indent=2)
  return scores
