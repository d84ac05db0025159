"""`pinchjax translate`: parallel sets through an OpenAI-compatible translator.

  pinchjax translate --in lima_en.jsonl --to paper --out data/lima \
      --gin_file=gin/translate/vllm.gin --gin.TRANSLATOR_MODEL="'google/gemma-3-27b-it'"

The server, model and decoding settings come from the gin file (one per backend in
gin/translate/). Rerunning the same command after a kill asks only for what is missing.
Exit status: 0 when every segment got an answer (flagged ones included), 1 when some
requests failed (rerun to ask for them).
"""
from __future__ import annotations

import argparse
import logging

from pinchjax import gin_config


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so `translate_files` (which --fields and --cache
  # bind) is known to gin.
  from pinchjax.translate import pipeline  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.split("\n")[0]
  parser.add_argument("--in", dest="in_path", required=True, help="canonical JSONL to translate")
  parser.add_argument("--to", required=True,
                      help="target languages: codes (ar,zh,cs) or a set (paper, seen, unseen, "
                      "slavic); records already in a target language are copied")
  parser.add_argument("--out", required=True, help="directory for LANG.jsonl, flags, report")
  # Not a gin setting (translate_files keeps its inputs and outputs off gin).
  parser.add_argument("--fields", default="instruction,response",
                      help="fields to translate (default: instruction,response)")
  gin_config.alias(parser, "--cache", "translate_files.cache_path",
                   help="SQLite answer cache (default: OUT/translate_cache.sqlite)")
  parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
  from pinchjax.translate import pipeline  # pylint: disable=import-outside-toplevel

  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
  fields = [f.strip() for f in args.fields.split(",") if f.strip()]
  # cache_path is gin's (--cache aliases its binding)
  report = pipeline.translate_files(args.in_path, args.to, args.out, fields)
  print(pipeline.summary(report))
  return 1 if report["failed_segments"] else 0
