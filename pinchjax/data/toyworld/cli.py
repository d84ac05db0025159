"""`pinchjax data toyworld --out DIR`: writes a toy world (see build.build_toyworld).

  pinchjax data toyworld --out data/toy --seed 0 --sentences-per-language 20000

Each flag from --seed on is an alias of a gin binding of build_toyworld (--seed 1 =
`--gin.build_toyworld.seed=1`; both together are an error); left out, gin's binding or the
function's default holds. Prints the manifest (counts of corpus lines and items) as JSON.
"""
from __future__ import annotations

import argparse
import json

from pinchjax import gin_config
from pinchjax.data.toyworld import build

# flag -> (type, help); each maps to the build_toyworld argument of the same name.
_OPTIONS = {
    "seed": (int, "fixes the corpus and the train/eval split (default 0)"),
    "sentences_per_language": (int, "monolingual pretraining lines per language"),
    "parallel_fraction": (float, "share of parallel / code-switched pretraining lines"),
    "question_fraction": (float, "share of each language's pretraining lines that are "
                          "questions (never answered)"),
    "max_sentences": (int, "the most statements in one pretraining document (line)"),
    "eval_fraction": (float, "share of each task family's items held out for evaluation"),
    "list_items": (int, "items drawn per list family (count, reverse)"),
    "languages": (str, "a language set (paper, seen, ...) or a comma list of codes"),
}


def register(parser: argparse.ArgumentParser) -> None:
  """Adds the command's flags to `parser` and sets `func` (for a `data toyworld` subparser)."""
  parser.add_argument("--out", required=True, help="the data directory to write")
  for name, (kind, text) in _OPTIONS.items():
    gin_config.alias(parser, "--" + name.replace("_", "-"), f"build_toyworld.{name}", text,
                     type=kind)
  parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
  manifest = build.build_toyworld(args.out)  # the flags are gin bindings by now
  print(json.dumps({"out": args.out, **manifest}, indent=1))
  return 0
