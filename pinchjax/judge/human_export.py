"""A rating package for human raters, sampled from judged runs.

    export(sources, out_dir, per_language=100, seed=0)

Sources are judged runs: a `pinchjax judge --out` directory (verdicts.jsonl, and the
generations its scores.json names), or every judge step of a study's results directory (its
generations found through the manifest). Only pairs the judge backend decided in both orders
are candidates for rating: pairs settled without it (identical responses, the
wrong-language rule) say nothing about the judge, and unreadable ones have no verdict.

Sampling, per language, from its own seeded stream (so a language's sample does not depend
on the others): the pairs are split by the judge's label (candidate better / tie / baseline
better, from both orders) and N is shared equally among the labels present, the remainder
going in that order; a label with too few pairs gives all it has and its shortfall is shared
among the others the same way. With fewer than N pairs, all are taken. The balanced sample
shows raters every verdict and gives kappa its best footing; the population's label counts
are kept in the key. Each pair is then shown in a random order (candidate as A or B, each
with probability 1/2) and the language's pairs are shuffled.

Written:
  OUT/raters/items.csv     for a spreadsheet (UTF-8 with a byte-order mark, which spreadsheet
                           programs need to read non-Latin scripts): item_id, language,
                           instruction, response_a, response_b, label (empty), comment, rater
  OUT/raters/items.jsonl   the same rows as JSON lines
  OUT/raters/README.md     the instructions and the allowed labels
  OUT/key.json             what raters must not see: which run each slot holds, the judge's
                           verdicts, where each pair came from, the sampling counts
Hand raters the `raters/` folder only.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import zlib
from typing import Any, Sequence

import gin
import numpy as np

from pinchjax import atomic_file
from pinchjax.data import generations
from pinchjax.judge import agreement
from pinchjax.judge import protocol
from pinchjax.judge import records
from pinchjax.judge import verdict_io

RATERS_DIR = "raters"
KEY = "key.json"
COLUMNS = ("item_id", "language", "instruction", "response_a", "response_b", "label",
           "comment", "rater")
SLOT_LABELS = ("A", "B", "tie")

RATER_README = """# Rating instructions

Each row is an instruction and two responses to it, A and B, in random order. Read both and
write in the `label` column which response follows the instruction better:

  A    response A is better
  B    response B is better
  tie  both are equally good (or equally bad)

Judge how well the response follows the instruction (helpful, correct, complete, in the
instruction's language); do not prefer a response only because it is longer. Leave `label`
empty for a pair you cannot judge. `comment` is optional free text. Write your name in
`rater` (or give the file your name when you hand it back). Do not change `item_id`, and
keep one row per item.
"""


@dataclasses.dataclass(frozen=True)
class Source:
  """One judged run: its verdicts and the generations they compare."""
  name: str  # shown in the key: the judge directory or the study's judge step
  verdicts: str
  candidate: str
  baseline: str
  baseline_is_references: bool = False


def judged_dir(path: str) -> Source:
  """The source written by `pinchjax judge --out PATH` (its scores.json names the inputs;
  relative input paths are as the judge was given them, from the working directory)."""
  scores = os.path.join(path, "scores.json")
  if not os.path.exists(scores):
    raise ValueError(f"{path}: no scores.json; is it a `pinchjax judge --out` directory?")
  with open(scores, encoding="utf-8") as f:
    inputs = json.load(f)["inputs"]
  refs = inputs.get("references") is not None
  return Source(path, os.path.join(path, "verdicts.jsonl"), inputs["candidate"],
                inputs["references"] if refs else inputs["baseline"], refs)


@dataclasses.dataclass(frozen=True)
class Pair:
  source: str
  lang: str
  id: str
  candidate_run: str
  baseline_run: str
  instruction: str
  candidate: str
  baseline: str
  judge: str  # agreement.LABELS
  games: tuple[str, str]  # slot verdicts, candidate in A then in B


def pairs(source: Source, counts: dict[str, dict[str, int]]) -> list[Pair]:
  """The source's pairs the judge decided in both orders; `counts[lang]` tallies the rest
  (`settled_without_judge`, `unscored`) so nothing is dropped unseen."""
  verdicts = verdict_io.read_verdicts(source.verdicts)
  bases = generations.read(source.baseline,
                           default_run="references" if source.baseline_is_references else None)
  texts = {(c["lang"], c["id"]): (c, b)
           for c, b in records.pair(generations.read(source.candidate), bases)}
  games: dict[tuple[str, str], dict[str, protocol.GameVerdict]] = {}
  for v in verdicts:
    games.setdefault((v.lang, v.id), {})[v.candidate_slot] = v
  out = []
  for item in protocol.items(verdicts):
    tally = counts.setdefault(item.lang, {})
    both = games[(item.lang, item.id)]
    if any(v.source != protocol.JUDGE for v in both.values()):
      tally["settled_without_judge"] = tally.get("settled_without_judge", 0) + 1
      continue
    if item.score is None:
      tally["unscored"] = tally.get("unscored", 0) + 1
      continue
    if (item.lang, item.id) not in texts:
      raise ValueError(f"{source.name}: verdicts for lang={item.lang!r} id={item.id!r} but no "
                       f"generation with that lang and id in {source.candidate}")
    cand, base = texts[(item.lang, item.id)]
    a, b = both[protocol.CANDIDATE_FIRST], both[protocol.CANDIDATE_SECOND]
    for rec, run in ((cand, a.candidate_run), (base, a.baseline_run)):
      if rec["run"] != run:
        raise ValueError(f"{source.name}: verdicts name run {run!r} but the generations of "
                         f"lang={item.lang!r} id={item.id!r} are from run {rec['run']!r}")
    out.append(Pair(source.name, item.lang, item.id, a.candidate_run, a.baseline_run,
                    cand["instruction"], cand["response"], base["response"],
                    agreement.judge_label(item.score), (a.verdict, b.verdict)))
  return out


def allocate(available: dict[str, int], n: int) -> dict[str, int]:
  """How many pairs to take from each stratum: equal shares, the remainder in stratum order,
  a short stratum's shortfall shared among the others."""
  take = {s: 0 for s in available}
  left = min(n, sum(available.values()))
  while left:
    open_ = [s for s in available if take[s] < available[s]]
    share, extra = divmod(left, len(open_))
    for k, s in enumerate(open_):
      add = min(share + (k < extra), available[s] - take[s])
      take[s] += add
      left -= add
  return take


def sample(pool: Sequence[Pair], lang: str, n: int, seed: int
           ) -> tuple[list[tuple[Pair, bool]], dict[str, int], dict[str, int]]:
  """The language's sample as (pair, candidate shown as A), shuffled; and the population
  and sample counts per judge label."""
  rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
  strata = {label: sorted((p for p in pool if p.judge == label),
                          key=lambda p: (p.source, p.id)) for label in agreement.LABELS}
  available = {label: len(ps) for label, ps in strata.items()}
  take = allocate(available, n)
  chosen = [strata[label][k] for label in agreement.LABELS
            for k in sorted(rng.choice(available[label], take[label], replace=False))]
  order = rng.permutation(len(chosen))
  flips = rng.random(len(chosen)) < 0.5
  return [(chosen[k], bool(f)) for k, f in zip(order, flips)], available, take


def _csv(rows: Sequence[dict[str, str]]) -> str:
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  return "\ufeff" + buf.getvalue()


@gin.configurable("export_human")
def export(sources: Sequence[Source], out_dir: str, *, per_language: int = 100,
           seed: int = 0, languages: Sequence[str] | None = None,
           study: str | None = None) -> dict[str, Any]:
  """Writes the package (module docstring); returns the key. `languages` restricts the
  sample; `study` (a results directory) is recorded so import-human writes there."""
  if per_language < 1:
    raise ValueError(f"per_language must be >= 1, got {per_language}")
  counts: dict[str, dict[str, int]] = {}
  pool: dict[str, list[Pair]] = {}
  for source in sources:
    for p in pairs(source, counts):
      pool.setdefault(p.lang, []).append(p)
  langs = sorted(pool) if languages is None else list(languages)
  missing = [l for l in langs if l not in pool]
  if missing:
    raise ValueError(f"no judge-decided pairs in languages {missing} (have: {sorted(pool)})")
  rows, keyed, sampling = [], [], {}
  for lang in langs:
    chosen, available, take = sample(pool[lang], lang, per_language, seed)
    sampling[lang] = {"population": available, "sample": take, **counts.get(lang, {})}
    for k, (p, candidate_first) in enumerate(chosen):
      item_id = f"{lang}-{k + 1:04d}"
      a, b = (p.candidate, p.baseline) if candidate_first else (p.baseline, p.candidate)
      rows.append({"item_id": item_id, "language": lang, "instruction": p.instruction,
                   "response_a": a, "response_b": b, "label": "", "comment": "", "rater": ""})
      keyed.append({"item_id": item_id, "lang": lang, "id": p.id, "source": p.source,
                    "candidate_run": p.candidate_run, "baseline_run": p.baseline_run,
                    "a": agreement.CANDIDATE if candidate_first else agreement.BASELINE,
                    "judge": p.judge, "judge_games": list(p.games)})
  key = {"seed": seed, "per_language": per_language, "labels": list(SLOT_LABELS),
         "study": os.path.abspath(study) if study else None,
         "sources": [s.name for s in sources], "sampling": sampling, "items": keyed}
  raters = os.path.join(out_dir, RATERS_DIR)
  os.makedirs(raters, exist_ok=True)
  atomic_file.write(os.path.join(raters, "items.csv"), [_csv(rows)])
  atomic_file.write_jsonl(os.path.join(raters, "items.jsonl"),
                          ({c: r[c] for c in COLUMNS} for r in rows))
  atomic_file.write(os.path.join(raters, "README.md"), [RATER_README])
  atomic_file.write_json(os.path.join(out_dir, KEY), key)
  return key
