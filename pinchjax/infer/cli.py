"""`pinchjax infer`: generations JSONL for an eval task, a mixture or a file, from a checkpoint.

Settings are gin bindings of `infer` (pinchjax.infer.run) and of `DecodeConfig`, e.g.
  pinchjax infer --checkpoint ckpt/ --task alpaca_eval_fi --out gen.jsonl \
      --gin.DecodeConfig.max_new_tokens=128 --gin.DecodeConfig.sampler="'top_p'"
Each flag from --task on is an alias of one `infer` binding (--batch-size 8 =
--gin.infer.batch_size=8); giving both is an error.
"""
from __future__ import annotations

import argparse
import json
import logging

from pinchjax import gin_config


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so its configurables (and those of the modules it
  # uses: DecodeConfig, load_generator, get_vocabulary, make_mesh, ...) can be bound.
  from pinchjax.infer import run  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.splitlines()[0]
  parser.epilog = ("Flags from --task on are aliases of gin bindings of `infer` "
                   "(--batch-size 8 = --gin.infer.batch_size=8); a flag and a --gin. override "
                   "of the same binding together are an error.")
  parser.add_argument("--checkpoint", required=True,
                      help="Hugging Face-format directory or a pinchjax run's checkpoints "
                      "directory (which holds its vocabulary; one from before runs saved it "
                      "needs --gin.get_vocabulary.path=\"'PATH'\")")
  parser.add_argument("--out", required=True, help="generations JSONL (resumed if present)")
  # Exactly one source, as a flag or a binding: `infer` says so when none or two are set.
  source = parser.add_mutually_exclusive_group()
  gin_config.alias(parser, "--task", "infer.task", group=source,
                   help="a registered eval task, e.g. alpaca_eval_fi")
  gin_config.alias(parser, "--mixture", "infer.mixture", group=source,
                   help="a registered mixture (all of its tasks)")
  gin_config.alias(parser, "--input", "infer.input_path", group=source,
                   help="a canonical JSONL file of instructions")
  gin_config.alias(parser, "--split", "infer.split",
                   help="split of the task or mixture (default: test)")
  gin_config.alias(parser, "--run", "infer.run", help="run name for the records (default: "
                   "NAME of runs/NAME/checkpoints, else the checkpoint directory's name)")
  gin_config.alias(parser, "--batch-size", "infer.batch_size", type=int,
                   help="prompts decoded together (default: 32)")
  gin_config.alias(parser, "--template", "infer.template", help="chat template (default: the "
                   "checkpoint's: a run's saved one, a Hugging Face tokenizer's own, else the "
                   "model family's)")
  parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
  from pinchjax.infer import run  # pylint: disable=import-outside-toplevel
  from pinchjax.parallel import cpu_host  # pylint: disable=import-outside-toplevel
  cpu_host.use_for_decoding()  # before the checkpoint loads (JAX starts then)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  stats = run.infer(args.checkpoint, args.out)  # everything else is gin's
  print(json.dumps({"out": args.out, "written": stats.written, "skipped": stats.skipped,
                    "new_tokens": stats.new_tokens,
                    "tokens_per_s": round(stats.tokens_per_s, 1)}))
  return 0
