"""`pinchjax vocab train`: a sentencepiece model from a dataset's text.

  pinchjax vocab train --data-dir data --dataset toy --vocab-size 2000 \
      --template toy --output data/toy/spm

reads every DATA_DIR/{dataset}/{split}/{lang}.jsonl (instructions and responses), keeps the
chat templates' markers as single tokens and writes OUTPUT.model / OUTPUT.vocab.
"""
from __future__ import annotations

import argparse
import glob
import json
import os

from pinchjax.data import canonical, chat, vocab


def _train(args: argparse.Namespace) -> int:
  pattern = os.path.join(args.data_dir, args.dataset, "*", "*.jsonl")
  files = sorted(glob.glob(pattern))
  if not files:
    raise SystemExit(f"no canonical files match {pattern}")
  texts = []
  for path in files:
    for r in canonical.read_jsonl(path, "raise", require_response=False):
      texts += [r.instruction, r.response]
  model = vocab.train_sentencepiece(
      texts, args.output, args.vocab_size, model_type=args.model_type,
      user_defined_symbols=chat.markers(args.template), byte_fallback=args.byte_fallback)
  size = vocab.get_vocabulary(model).vocab_size
  print(json.dumps({"model": model, "vocab_size": size, "files": len(files),
                    "texts": len(texts)}))
  return 0


def register(parser: argparse.ArgumentParser) -> None:
  sub = parser.add_subparsers(dest="vocab_command", metavar="SUBCOMMAND", required=True)
  p = sub.add_parser("train", help="train a sentencepiece model on a dataset's text")
  p.add_argument("--data-dir", required=True)
  p.add_argument("--dataset", required=True)
  p.add_argument("--vocab-size", type=int, required=True)
  p.add_argument("--template", action="append", default=[], choices=sorted(chat.TEMPLATES),
                 help="keep this template's markers as single tokens (repeatable)")
  p.add_argument("--model-type", default="unigram", choices=["unigram", "bpe", "word", "char"])
  p.add_argument("--byte-fallback", action="store_true")
  p.add_argument("--output", required=True, help="model prefix (writes PREFIX.model)")
  p.set_defaults(func=_train)
