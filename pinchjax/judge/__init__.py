"""Side-by-side judging: the protocol, scores with intervals, fidelity, backends, cache.

The study runner's API:

  from pinchjax import judge
  verdicts = judge.judge_pairs(candidate_records, baseline_records, backend,
                               cache="out/judge.db")
  scores = judge.score(verdicts)              # per language, macro, CIs, diagnostics
  delta = judge.compare(verdicts_x, verdicts_y)  # paired difference vs one baseline
  judge.write_verdicts("verdicts.jsonl", verdicts); judge.read_verdicts("verdicts.jsonl")

Backends live in pinchjax.judge.backends (openai_compatible, local, verifiable).
"""
from pinchjax.judge.records import read as read_generations
from pinchjax.judge.runner import judge_pairs
from pinchjax.judge.scoring import compare, score
from pinchjax.judge.verdict_io import read_verdicts, write_verdicts

__all__ = ["judge_pairs", "score", "compare", "read_generations", "read_verdicts",
           "write_verdicts"]
