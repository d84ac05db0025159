"""An ablation over toy base models: one study per base, then base diagnostics against transfer.

  python -m pinchjax.study.ablation gin/studies/toy_ablation.gin [--results DIR] [--only A,B]

`Ablation.bases` names each base and the study-level gin bindings that make it (the world's
`build_toyworld.*`, `ModelConfig.*`, `VOCAB_SIZE`, `PRETRAIN_STEPS`, ...). Each base is the
study `Ablation.study` (which pretrains its own base: `Study.pretrain`) run by `pinchjax study`
in DIR/NAME with those bindings, so every base is resumable, preflighted and reported like any
study. DIR/ablation.md (and .json) then tabulates, per base, its pretraining (parameters,
steps, seconds, final loss), its diagnostics (pinchjax.study.diagnostics) and the paired IF gain
of the English-tuned model over the base in every other language (95% bootstrap interval),
its checker accuracy and language fidelity, with the machine's load average while it ran.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any, Sequence

import gin

from pinchjax import gin_config
from pinchjax.study import grid, runner
from pinchjax.study.results import Results

TUNED = "mono_en"  # the config (over seeds) the report scores


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Ablation:
  study: str = gin.REQUIRED  # the study file each base runs
  bases: dict[str, Sequence[str]] = gin.REQUIRED  # base name -> study-level gin bindings


def _load() -> float:
  return os.getloadavg()[0]


def run_base(study: str, bindings: Sequence[str], out: str) -> dict[str, Any]:
  """`pinchjax study` of one base in `out`; its exit status and the load average around it."""
  before, start = _load(), time.time()
  cmd = [sys.executable, "-m", "pinchjax.cli", "study", study, "--results", out,
         *(f"--gin.{b}" for b in bindings)]
  status = subprocess.call(cmd)
  return {"status": status, "seconds": round(time.time() - start, 1),
          "load_before": round(before, 2), "load_after": round(_load(), 2)}


def summarise(out: str) -> dict[str, Any]:
  """One base's row: pretraining facts, diagnostics and the transfer of mono_en (empty when
  its study never started)."""
  if not os.path.exists(os.path.join(out, runner.STUDY)):
    return {"gain": {}, "accuracy": {}, "fidelity": {}, "transfers_to": []}
  r = Results(out)
  steps = r.manifest["steps"]

  def output(step_id: str, name: str) -> Any:
    entry = steps.get(step_id)
    if not entry or entry["status"] != "done":
      return None
    return runner.read_json(os.path.join(out, "steps", *step_id.split("/"), entry["outputs"][name]))

  row: dict[str, Any] = {"pretraining": output(grid.PRETRAIN, "facts"),
                         "pretrain_step_seconds": steps.get(grid.PRETRAIN, {}).get("seconds")}
  diag = output(grid.DIAGNOSE, "diagnostics")
  if diag:
    langs = diag["languages"]
    row["cloze"] = {l: x["cloze"] for l, x in langs.items()}
    row["dictionary"] = {l: x["dictionary"] for l, x in langs.items() if "dictionary" in x}
    row["similarity_gap"] = {l: max(s["parallel"] - s["shuffled"] for s in x["similarity"])
                             for l, x in langs.items() if "similarity" in x}
  row["gain"], row["accuracy"], row["fidelity"] = {}, {}, {}
  for lang in r.languages:
    g = r.gain(TUNED, grid.BASE, [lang]) if r.has(TUNED, lang) and r.has(grid.BASE, lang) else None
    row["gain"][lang] = None if g is None else dataclasses.asdict(g)
    row["accuracy"][lang] = r.metric(TUNED, lang, "accuracy")
    row["fidelity"][lang] = r.metric(TUNED, lang, "fidelity")
  row["transfers_to"] = [l for l, g in row["gain"].items() if l != "en" and g and g["lo"] > 0]
  return row


def _cell(x: float | None, scale: float = 100.0) -> str:
  return "-" if x is None else f"{scale * x:.0f}" if scale == 100 else f"{x:.2f}"


def table(rows: dict[str, dict[str, Any]], langs: Sequence[str]) -> list[str]:
  others = [l for l in langs if l != "en"]
  header = ["base", "params", "pretrain steps", "pretrain s", "load", "final loss",
            *(f"cloze {l} %" for l in langs), *(f"dict {l} %" for l in others),
            *(f"sim gap {l}" for l in others), *(f"gain {l} [95%]" for l in others),
            *(f"acc {l} %" for l in langs), *(f"fidelity {l} %" for l in others)]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for name, row in rows.items():
    p = row.get("pretraining") or {}
    run = row.get("run", {})
    gains = [("-" if (g := row["gain"].get(l)) is None
              else f"{g['value']:.1f} [{g['lo']:.1f}, {g['hi']:.1f}]") for l in others]
    cells = [name, str(p.get("parameters", "-")), str(p.get("steps", "-")),
             str(p.get("seconds", "-")),
             f"{run.get('load_before', '-')}-{run.get('load_after', '-')}",
             "-" if "final_loss" not in p else f"{p['final_loss']:.2f}",
             *(_cell(row.get("cloze", {}).get(l)) for l in langs),
             *(_cell(row.get("dictionary", {}).get(l)) for l in others),
             *(_cell(row.get("similarity_gap", {}).get(l), 1) for l in others),
             *gains, *(_cell(row["accuracy"].get(l)) for l in langs),
             *(_cell(row["fidelity"].get(l)) for l in others)]
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def main(argv: Sequence[str] | None = None) -> int:
  files, bindings, rest = gin_config.split_gin_args(sys.argv[1:] if argv is None else argv)
  parser = argparse.ArgumentParser(prog="python -m pinchjax.study.ablation")
  parser.add_argument("gin", help="the ablation's gin file (gin/studies/toy_ablation.gin)")
  parser.add_argument("--results", default="results/toy_ablation")
  parser.add_argument("--only", default="", help="comma list of bases to run (default: all)")
  parser.add_argument("--table-only", action="store_true",
                      help="run nothing: tabulate the bases already in --results again")
  args = parser.parse_args(rest)
  gin_config.parse_gin([args.gin, *files], bindings)
  ablation = Ablation()
  only = [b for b in args.only.split(",") if b]
  unknown = sorted(set(only) - set(ablation.bases))
  if unknown:
    raise SystemExit(f"--only: unknown bases {unknown}; {args.gin} has {sorted(ablation.bases)}")
  path = os.path.join(args.results, "ablation.json")
  rows = runner.read_json(path) if os.path.exists(path) else {}
  for name, base_bindings in ablation.bases.items():
    if args.table_only or (only and name not in only):
      continue
    out = os.path.join(args.results, name)
    run = run_base(ablation.study, base_bindings, out)
    rows[name] = {"bindings": list(base_bindings), "run": run, **summarise(out)}
    runner.write_json(path, rows)
  for name, row in rows.items():  # every base with this code's reading of its results
    row.update(summarise(os.path.join(args.results, name)))
  runner.write_json(path, rows)
  langs = Results(os.path.join(args.results, next(iter(rows)))).languages if rows else []
  with open(os.path.join(args.results, "ablation.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(["# Toy base ablation", "", *table(rows, langs), "",
                       *(f"- `{n}`: {', '.join(r['bindings']) or 'defaults'}"
                         for n, r in rows.items()), ""]))
  print(json.dumps({n: r["transfers_to"] for n, r in rows.items()}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
