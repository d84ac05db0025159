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


def register(parser: argparse.ArgumentParser) -> None:
  parser.description = __doc__.split("\n")[0]
  parser.add_argument("--in", dest="in_path", required=True, help="canonical JSONL to translate")
  parser.add_argument("--to", required=True,
                      help="target languages: codes (ar,zh,cs) or a set (paper, seen, unseen, "
                      "slavic); records already in a target language are copied")
  parser.add_argument("--out", required=True, help="directory for LANG.jsonl, flags, report")
  parser.add_argument("--fields", default="instruction,response",
                      help="fields to translate (default: instruction,response)")
  parser.add_argument("--cache", default=None,
                      help="SQLite answer cache (default: OUT/translate_cache.sqlite)")
  parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
  from pinchjax.translate import pipeline  # imported on use: keeps `--help` fast

  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
  fields = [f.strip() for f in args.fields.split(",") if f.strip()]
  # Passed only when given, so that a gin binding of cache_path still applies otherwise.
  extra = {"cache_path": args.cache} if args.cache else {}
  report = pipeline.translate_files(args.in_path, args.to, args.out, fields, **extra)
  print(pipeline.summary(report))
  return 1 if report["failed_segments"] else 0
