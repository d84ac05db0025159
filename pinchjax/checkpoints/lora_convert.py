"""LoRA runs <-> peft adapters, and merged weights (`pinchjax convert ... --adapter/--merge`).

    export_adapter("runs/x/checkpoints", "out/adapter")          # peft: adapter_config.json ...
    export_merged("runs/x/checkpoints", "out/merged")            # HF weights, W + scale * A B
    import_adapter("out/adapter", "runs/y/checkpoints", base="hf/base")  # a pinchjax LoRA run

An imported adapter becomes step 0 of a pinchjax checkpoints directory with the LoRA
model_config.json and a `lora_base.json` naming the base (train, infer and serve take it like a
LoRA run's checkpoints); the base's vocabulary is copied along.
"""
from __future__ import annotations

import json
import os
import shutil

from flax import nnx

from pinchjax.checkpoints import adapters, checkpointer, hf, load, metadata
from pinchjax.model import hf_config, lora
from pinchjax.model.config import ModelConfig
from pinchjax.parallel import partition


def _lora_model(checkpoint_dir: str, step: int | None, lora_base: str | None):
  model, cfg = load.load_model(checkpoint_dir, step=step, lora_base=lora_base)
  if not cfg.lora_rank:
    raise ValueError(f"{checkpoint_dir}: not a LoRA run (its model_config.json has "
                     "lora_rank 0); --adapter and --merge need adapters")
  return model, cfg


def export_adapter(checkpoint_dir: str, out_dir: str, step: int | None = None,
                   base_model: str | None = None, lora_base: str | None = None) -> list[str]:
  """Writes a LoRA run's adapters as a peft adapter; `base_model` is its
  base_model_name_or_path (default: the run's base directory)."""
  model, cfg = _lora_model(checkpoint_dir, step, lora_base)
  base = base_model or adapters.read_reference(checkpoint_dir, lora_base)["path"]
  return hf.export_adapter(cfg, model, out_dir, base_model_name_or_path=base)


def export_merged(checkpoint_dir: str, out_dir: str, step: int | None = None,
                  lora_base: str | None = None, **export: object) -> list[str]:
  """Writes a LoRA run as plain HF weights with the adapters merged in."""
  model, cfg = _lora_model(checkpoint_dir, step, lora_base)
  base_cfg = cfg.replace(lora_rank=0)
  merged = lora.merge_into_base(nnx.to_pure_dict(nnx.state(model)), cfg)
  plain = nnx.merge(partition.abstract_model(base_cfg)[0], nnx.State(merged))
  return hf.export_hf(base_cfg, plain, out_dir, **export)


def _base_config(base: str) -> tuple[ModelConfig, dict]:
  """(config, reference) of a base: an HF directory or a pinchjax checkpoints directory."""
  if metadata.is_hf_dir(base):
    return hf_config.from_hf(base), adapters.base_reference(None, base, None)
  ckpt = checkpointer.Checkpointer(base, read_only=True)
  step = ckpt.latest_step()
  ckpt.close()
  return metadata.load_model_config(base), adapters.base_reference(base, None, step)


def import_adapter(adapter_dir: str, out_dir: str, base: str | None = None,
                   scan_layers: bool | None = None) -> ModelConfig:
  """Writes a peft adapter as a pinchjax LoRA checkpoints directory on `base` (default: the
  adapter's base_model_name_or_path, which must then be a local directory)."""
  if base is None:
    with open(os.path.join(adapter_dir, hf.ADAPTER_CONFIG)) as f:
      base = json.load(f).get("base_model_name_or_path")
    if not base or not os.path.isdir(base):
      raise ValueError(f"{adapter_dir}: base_model_name_or_path {base!r} is not a local "
                       "directory; name the base with --base")
  base_cfg, ref = _base_config(base)
  if scan_layers is not None:
    base_cfg = base_cfg.replace(scan_layers=scan_layers)
  cfg = hf.read_adapter_config(adapter_dir, base_cfg)
  params = hf.load_adapter(adapter_dir, cfg)
  checkpointer.save_params(out_dir, nnx.to_pure_dict(params))
  metadata.save_model_config(out_dir, cfg)
  adapters.save_reference(out_dir, ref)
  if ref["kind"] == "pinchjax":  # the base's vocabulary files, as a run would have them
    for name in (metadata.VOCABULARY, metadata.SENTENCEPIECE_FILE, metadata.TOKENIZER_DIR):
      src = os.path.join(base, name)
      if os.path.isdir(src):
        shutil.copytree(src, os.path.join(out_dir, name), dirs_exist_ok=True)
      elif os.path.isfile(src):
        shutil.copy(src, out_dir)
  elif os.path.isfile(os.path.join(base, "tokenizer.json")):
    from pinchjax.data import chat, vocab as vocab_lib  # pylint: disable=import-outside-toplevel
    vocab = vocab_lib.get_vocabulary(base)
    metadata.save_tokenization(out_dir, vocab, chat.tokenizer_template(vocab))
  return cfg
