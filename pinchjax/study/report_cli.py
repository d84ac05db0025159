"""`pinchjax report RESULTS_DIR`: report.md and figures of a study's results directory."""
from __future__ import annotations

import argparse

from pinchjax.study import report


def register(parser: argparse.ArgumentParser) -> None:
  parser.description = "Write RESULTS_DIR/report/report.md and its PNG figures."
  parser.add_argument("results", help="a results directory written by `pinchjax study`")
  parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
  print(report.build(args.results))
  return 0
