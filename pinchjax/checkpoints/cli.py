"""`pinchjax convert`: Hugging Face checkpoints <-> pinchjax checkpoints.

  pinchjax convert hf-to-pinchjax HF_DIR OUT_DIR [--dtype bfloat16] [--scan_layers]
  pinchjax convert pinchjax-to-hf RUN_CHECKPOINTS_DIR OUT_DIR [--step N] [--tokenizer_dir D]
  pinchjax convert pinchjax-to-hf LORA_RUN_CHECKPOINTS_DIR OUT_DIR --adapter | --merge
  pinchjax convert hf-to-pinchjax PEFT_ADAPTER_DIR OUT_DIR --adapter [--base BASE_DIR]

A pinchjax checkpoint directory is what the trainer writes (pinchjax.train): model_config.json
and the vocabulary (vocabulary.json, pinchjax.checkpoints.metadata) next to orbax step
directories whose `params` item holds the parameters. A converted HF model is step 0 of such a directory, with
the HF tokenizer and its own chat template, so `train --gin.train.init_checkpoint_dir=OUT_DIR`
and `infer` take it like any run's checkpoints. pinchjax-to-hf copies the run's own Hugging
Face tokenizer files unless --tokenizer_dir names others. LoRA runs export as a peft adapter
(--adapter) or as weights with the adapters merged in (--merge); see
pinchjax.checkpoints.lora_convert.
"""
from __future__ import annotations

import argparse
import json
import os

from flax import nnx


def hf_to_pinchjax(args: argparse.Namespace) -> int:
  from pinchjax.checkpoints import checkpointer, hf, metadata
  from pinchjax.data import chat, vocab as vocab_lib
  if args.adapter:
    from pinchjax.checkpoints import lora_convert
    cfg = lora_convert.import_adapter(args.hf_dir, args.out_dir, args.base,
                                      args.scan_layers or None)
    print(json.dumps({"out_dir": args.out_dir, "family": cfg.family, "lora_rank": cfg.lora_rank,
                      "lora_targets": list(cfg.lora_targets)}))
    return 0
  cfg, params = hf.load_hf(args.hf_dir, dtype=args.dtype, scan_layers=args.scan_layers)
  checkpointer.save_params(args.out_dir, nnx.to_pure_dict(params))
  metadata.save_model_config(args.out_dir, cfg)
  if os.path.isfile(os.path.join(args.hf_dir, "tokenizer.json")):
    vocab = vocab_lib.get_vocabulary(args.hf_dir)
    metadata.save_tokenization(args.out_dir, vocab, chat.tokenizer_template(vocab))
  print(json.dumps({"out_dir": args.out_dir, "family": cfg.family,
                    "num_params": cfg.num_params(), "dtype": cfg.param_dtype}))
  return 0


def pinchjax_to_hf(args: argparse.Namespace) -> int:
  from pinchjax.checkpoints import hf, load, lora_convert, metadata
  tokenizer_dir = args.tokenizer_dir
  own = os.path.join(args.checkpoint_dir, metadata.TOKENIZER_DIR)
  if tokenizer_dir is None and os.path.isdir(own):
    tokenizer_dir = own
  export = dict(tokenizer_dir=tokenizer_dir, max_shard_bytes=int(args.max_shard_gb * 2**30))
  if args.adapter:
    written = lora_convert.export_adapter(args.checkpoint_dir, args.out_dir, args.step,
                                          args.base_model, args.lora_base)
  elif args.merge:
    written = lora_convert.export_merged(args.checkpoint_dir, args.out_dir, args.step,
                                         args.lora_base, **export)
  else:
    model, cfg = load.load_model(args.checkpoint_dir, step=args.step, lora_base=args.lora_base)
    written = hf.export_hf(cfg, model, args.out_dir, **export)
  family = metadata.load_model_config(args.checkpoint_dir).family
  print(json.dumps({"out_dir": args.out_dir, "family": family, "files": written}))
  return 0


def register(parser: argparse.ArgumentParser) -> None:
  sub = parser.add_subparsers(dest="direction", metavar="DIRECTION", required=True)
  to_pj = sub.add_parser("hf-to-pinchjax", help="HF safetensors directory -> pinchjax checkpoint")
  to_pj.add_argument("hf_dir", help="directory with config.json and *.safetensors")
  to_pj.add_argument("out_dir", help="pinchjax checkpoint directory to create")
  to_pj.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default=None,
                     help="parameter dtype (default: the checkpoint's)")
  to_pj.add_argument("--scan_layers", action="store_true",
                     help="write the stacked-layers layout (for runs with scan_layers=True)")
  to_pj.add_argument("--adapter", action="store_true",
                     help="HF_DIR is a peft LoRA adapter: write a pinchjax LoRA checkpoint")
  to_pj.add_argument("--base", default=None,
                     help="with --adapter: the base (HF or pinchjax checkpoints directory; "
                          "default: the adapter's base_model_name_or_path)")
  to_pj.set_defaults(func=hf_to_pinchjax)
  to_hf = sub.add_parser("pinchjax-to-hf", help="pinchjax checkpoint -> HF safetensors directory")
  to_hf.add_argument("checkpoint_dir", help="a run's checkpoints directory (model_config.json)")
  to_hf.add_argument("out_dir", help="HF directory to write (config.json + safetensors)")
  to_hf.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  to_hf.add_argument("--tokenizer_dir", default=None,
                     help="copy tokenizer.json and friends from this directory (default: "
                     "the run's own Hugging Face tokenizer, if it has one)")
  to_hf.add_argument("--max_shard_gb", type=float, default=5.0,
                     help="split weights into shards of at most this size")
  lora_mode = to_hf.add_mutually_exclusive_group()
  lora_mode.add_argument("--adapter", action="store_true",
                         help="a LoRA run: write its adapters as a peft adapter directory")
  lora_mode.add_argument("--merge", action="store_true",
                         help="a LoRA run: write full weights with the adapters merged in")
  to_hf.add_argument("--base_model", default=None,
                     help="with --adapter: base_model_name_or_path to record (default: the "
                          "run's base directory)")
  to_hf.add_argument("--lora_base", default=None,
                     help="a LoRA run's base moved to this directory (fingerprint checked)")
  to_hf.set_defaults(func=pinchjax_to_hf)
