"""`pinchjax judge export-human` and `pinchjax judge import-human`: human raters' labels.

  pinchjax judge export-human --study results/ --out rating/ --per-language 100 --seed 0
  pinchjax judge export-human --judged judged_fi/ --judged judged_ru/ --out rating/
  (raters fill rating/raters/items.csv or items.jsonl; see rating/raters/README.md)
  pinchjax judge import-human --key rating/key.json alice=alice.csv bob=bob.csv

export-human writes the package (pinchjax.judge.human_export); import-human checks the
filled files, computes judge-human and human-human agreement and kappa with bootstrap
intervals (pinchjax.judge.agreement), writes agreement.json and labels.jsonl (in
RESULTS_DIR/human/ for a study's package, where the report finds them) and prints a table.
export-human's --per-language, --seed and --languages are aliases of the export_human
bindings of the same names.
"""
from __future__ import annotations

import argparse
import os

from pinchjax import gin_config
from pinchjax.judge import agreement
from pinchjax.judge import human_export
from pinchjax.judge import human_import


def register(sub: argparse._SubParsersAction) -> None:  # pylint: disable=protected-access
  export = sub.add_parser("export-human", help="a rating package of judged pairs",
                          description=human_export.__doc__.splitlines()[0])
  export.add_argument("--judged", action="append", default=[],
                      help="a `pinchjax judge --out` directory (repeatable)")
  export.add_argument("--study", help="a study's results directory: all its judge steps")
  export.add_argument("--out", required=True, help="package directory")
  gin_config.alias(export, "--per-language", "export_human.per_language", type=int,
                   help="pairs per language (default 100)")
  gin_config.alias(export, "--seed", "export_human.seed", type=int,
                   help="sampling seed (default 0)")
  gin_config.alias(export, "--languages", "export_human.languages",
                   type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
                   help="comma-separated languages (default: all judged)")
  export.set_defaults(func=export_main)

  imp = sub.add_parser("import-human", help="agreement of raters' labels with the judge",
                       description=human_import.__doc__.splitlines()[0])
  imp.add_argument("--key", required=True, help="the package's key.json")
  imp.add_argument("files", nargs="+", metavar="[RATER=]FILE",
                   help="filled items.csv / items.jsonl; RATER names a file's rater when "
                   "its rows leave the rater column empty")
  imp.add_argument("--out", help="output directory (default: RESULTS_DIR/human for a "
                   "study's package, else next to the key)")
  imp.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
  imp.add_argument("--seed", type=int, default=0, help="bootstrap seed")
  imp.set_defaults(func=import_main)


def export_main(args: argparse.Namespace) -> int:
  if not args.judged and not args.study:
    raise SystemExit("export-human needs --judged DIR (repeatable) or --study RESULTS_DIR")
  sources = [human_export.judged_dir(d) for d in args.judged]
  if args.study:
    from pinchjax.study import results  # pylint: disable=import-outside-toplevel
    sources += results.judged_steps(args.study)
  key = human_export.export(sources, args.out, study=args.study)
  for lang, s in key["sampling"].items():
    print(f"{lang}: sampled {s['sample']} of {s['population']} judge-decided pairs")
  print(f"raters' files: {os.path.join(args.out, human_export.RATERS_DIR)}; key (keep from "
        f"raters): {os.path.join(args.out, human_export.KEY)}")
  return 0


def _file(spec: str) -> tuple[str | None, str]:
  """`RATER=PATH` or `PATH` (an existing path is taken whole, even with an `=` in it)."""
  name, sep, path = spec.partition("=")
  return (name, path) if sep and not os.path.exists(spec) else (None, spec)


def import_main(args: argparse.Namespace) -> int:
  summary = human_import.run(args.key, [_file(f) for f in args.files], args.out,
                             n_boot=args.n_boot, seed=args.seed)
  print(agreement.render(summary))
  return 0
