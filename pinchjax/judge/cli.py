"""`pinchjax judge`: side-by-side verdicts and scores of a candidate run against a baseline.

  pinchjax judge --candidate gen_fi.jsonl --baseline base_fi.jsonl --judge openai_compatible \
      --out judged/ --gin.OpenAICompatibleBackend.base_url="'http://127.0.0.1:8000/v1'" \
      --gin.OpenAICompatibleBackend.model="'Qwen/Qwen2.5-72B-Instruct'"

Writes OUT/verdicts.jsonl (one game a line) and OUT/scores.json (per language, macro,
intervals, diagnostics, fidelity, call counts), caches every answer in OUT/judge_cache.sqlite
(or --cache), and prints a table.

  pinchjax judge export-human ... / pinchjax judge import-human ...

hand judged pairs to human raters and measure judge-human agreement (pinchjax.judge.human_cli).
"""
from __future__ import annotations

import argparse
import os

import gin

from pinchjax import cli as root_cli
from pinchjax.judge import human_cli
from pinchjax.judge import table
from pinchjax.judge.runner import judge_run  # and the backends judge files name

JUDGES_DIR = os.path.join(root_cli.REPO_ROOT, "gin", "judges")


def _judge_file(spec: str) -> str:
  """`--judge NAME` (a file in gin/judges/) or a path; parsed at once, i.e. before the
  command's --gin_file files and --gin overrides, which can then refine it."""
  path = spec if spec.endswith(".gin") else os.path.join(JUDGES_DIR, f"{spec}.gin")
  if not os.path.exists(path):
    known = sorted(f[:-4] for f in os.listdir(JUDGES_DIR) if f.endswith(".gin"))
    raise argparse.ArgumentTypeError(f"no judge file {path}; known judges: {known}")
  gin.add_config_file_search_path(root_cli.REPO_ROOT)
  gin.parse_config_file(path)
  return path


def register(parser: argparse.ArgumentParser) -> None:
  parser.description = __doc__.splitlines()[0]
  # Judging takes these flags directly; export-human / import-human are subcommands, so the
  # flags are checked in `main` rather than by argparse (a subcommand does not take them).
  parser.add_argument("--candidate", help="generations JSONL of the run judged (required)")
  against = parser.add_mutually_exclusive_group()
  against.add_argument("--baseline", help="generations JSONL of the baseline run")
  against.add_argument("--references", help="reference responses JSONL (same layout)")
  parser.add_argument("--judge", type=_judge_file,
                      help="judge gin file: a name in gin/judges/ (openai_compatible, local, "
                      "verifiable, toyworld) or a path; other settings are judge_run's gin "
                      "parameters, e.g. --gin.judge_run.prompt=\"'sxs5-v1'\", "
                      "--gin.judge_run.wrong_language_loses=True")
  parser.add_argument("--out", help="output directory (required)")
  parser.add_argument("--cache", help="SQLite answer cache (default OUT/judge_cache.sqlite)")
  parser.set_defaults(func=main, parser=parser)
  sub = parser.add_subparsers(dest="action", metavar="{export-human,import-human}")
  human_cli.register(sub)


def main(args: argparse.Namespace) -> int:
  missing = [flag for flag, value in (("--candidate", args.candidate), ("--out", args.out),
                                      ("--baseline or --references",
                                       args.baseline or args.references)) if not value]
  if missing:
    args.parser.error(f"the following arguments are required: {', '.join(missing)}")
  scores = judge_run(args.candidate, args.out, baseline=args.baseline,
                     references=args.references, cache=args.cache)
  print(table.render(scores))
  return 0
