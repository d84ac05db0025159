"""Side-by-side judging: the protocol, scores with intervals, fidelity, backends, cache.

The study runner's API:

  from pinchjax import judge
  verdicts = judge.judge_pairs(candidate_records, baseline_records, backend,
                               cache="out/judge.db")
  scores = judge.score(verdicts)              # per language, macro, CIs, diagnostics
  delta = judge.compare(verdicts_x, verdicts_y)  # paired difference vs one baseline
  items = judge.item_scores(verdicts)         # {lang: {id: 0 | 0.5 | 1}}
  judge.write_verdicts("verdicts.jsonl", verdicts); judge.read_verdicts("verdicts.jsonl")

Backends live in pinchjax.judge.backends: openai_compatible.OpenAICompatibleBackend,
local.LocalBackend / local.local_backend, verifiable.VerifiableBackend(checker). Toy-world
languages are synthetic, so pass `language_of=pinchjax.data.toyworld.checkers.identify` to
judge_pairs for their fidelity (py3langid is the default). One generations file against
another, with files out: pinchjax.judge.run.judge_run.
"""
from pinchjax.data.generations import read as read_generations
from pinchjax.judge.runner import judge_pairs
from pinchjax.judge.scoring import compare, item_scores, score
from pinchjax.judge.verdict_io import read_verdicts, write_verdicts

__all__ = ["judge_pairs", "score", "compare", "item_scores", "read_generations",
           "read_verdicts", "write_verdicts"]
