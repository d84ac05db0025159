"""`pinchjax infer`: generations JSONL for an eval task, a mixture or a file, from a checkpoint.

Decoding settings are gin bindings of `DecodeConfig`, e.g.
  pinchjax infer --checkpoint ckpt/ --task alpaca_eval_fi --out gen.jsonl \
      --gin.DecodeConfig.max_new_tokens=128 --gin.DecodeConfig.sampler="'top_p'"
"""
from __future__ import annotations

import argparse
import json
import logging


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so its configurables (and those of the modules it
  # uses: DecodeConfig, load_generator, get_vocabulary, make_mesh, ...) can be bound.
  from pinchjax.infer import run  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.splitlines()[0]
  parser.add_argument("--checkpoint", required=True,
                      help="Hugging Face-format directory or a pinchjax run's checkpoints "
                      "directory (which holds its vocabulary; one from before runs saved it "
                      "needs --gin.get_vocabulary.path=\"'PATH'\")")
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument("--task", help="a registered eval task, e.g. alpaca_eval_fi")
  source.add_argument("--mixture", help="a registered mixture (all of its tasks)")
  source.add_argument("--input", help="a canonical JSONL file of instructions")
  parser.add_argument("--split", help="split of the task or mixture (default: test)")
  parser.add_argument("--out", required=True, help="generations JSONL (resumed if present)")
  parser.add_argument("--run", help="run name for the records (default: NAME of "
                      "runs/NAME/checkpoints, else the checkpoint directory's name)")
  parser.add_argument("--batch-size", type=int, help="prompts decoded together (default: 32)")
  parser.add_argument("--template", help="chat template (default: the checkpoint's: a run's "
                      "saved one, a Hugging Face tokenizer's own, else the model family's)")
  parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
  from pinchjax.infer import run  # pylint: disable=import-outside-toplevel
  from pinchjax.parallel import cpu_host  # pylint: disable=import-outside-toplevel
  cpu_host.use_for_decoding()  # before the checkpoint loads (JAX starts then)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  # Flags left out fall back to gin bindings of `infer`, then to its defaults.
  given = {k: v for k, v in dict(task=args.task, mixture=args.mixture, input_path=args.input,
                                 split=args.split, run=args.run, batch_size=args.batch_size,
                                 template=args.template).items() if v is not None}
  stats = run.infer(args.checkpoint, args.out, **given)
  print(json.dumps({"out": args.out, "written": stats.written, "skipped": stats.skipped,
                    "new_tokens": stats.new_tokens,
                    "tokens_per_s": round(stats.tokens_per_s, 1)}))
  return 0
