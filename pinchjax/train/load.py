"""Loading what a training run wrote: its model config and a model from its checkpoints.

    model, cfg = load_model("runs/p10/checkpoints")        # latest step, default mesh
    logits, _ = model(tokens, positions, segment_ids)

The run's `checkpoints/` directory holds, next to the step directories, what it takes to use
the model with nothing else (inference, serving, the judge, conversion, further tuning):

  model_config.json   the ModelConfig fields
  vocab.model         the sentencepiece vocabulary, or
  tokenizer/          the Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json,
                      chat_template.jinja, ...)
  vocabulary.json     {"vocabulary": "vocab.model" | "tokenizer", "extra_ids", "eos_token",
                      "bos_token", "chat_template": a pinchjax template name, "tokenizer" (the
                      tokenizer's own jinja template) or null (examples had no chat frame)}

  lora_base.json      (LoRA runs) the base the adapters go on; see pinchjax.train.adapters

Checkpoints written before vocabularies were saved have only model_config.json;
`load_tokenization` returns None for them. A LoRA run's steps hold the adapters only;
`load_model` adds the base its `lora_base.json` names.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from typing import Any

import jax
import seqio
from flax import nnx
from jax.sharding import Mesh

from pinchjax import atomic_file
from pinchjax.data import chat
from pinchjax.data import vocab as vocab_lib
from pinchjax.model.config import ModelConfig
from pinchjax.model.hf import TOKENIZER_FILES
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import partition
from pinchjax.parallel import rules as rules_lib
from pinchjax.train import adapters, checkpoint

MODEL_CONFIG = "model_config.json"
VOCABULARY = "vocabulary.json"
SENTENCEPIECE_FILE = "vocab.model"
TOKENIZER_DIR = "tokenizer"


def save_model_config(checkpoint_dir: str, cfg: ModelConfig) -> None:
  """Writes `model_config.json` (call on the primary process only)."""
  os.makedirs(checkpoint_dir, exist_ok=True)
  atomic_file.write_json(os.path.join(checkpoint_dir, MODEL_CONFIG), dataclasses.asdict(cfg))


def load_model_config(checkpoint_dir: str) -> ModelConfig:
  path = os.path.join(checkpoint_dir, MODEL_CONFIG)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing: {checkpoint_dir} is not a pinchjax run's "
                            "checkpoints directory")
  with open(path, encoding="utf-8") as f:
    return ModelConfig(**json.load(f))


def save_tokenization(checkpoint_dir: str, vocab: seqio.Vocabulary,
                      template: chat.ChatTemplate | None) -> None:
  """Copies the vocabulary into the checkpoint directory and records it with the chat template
  (call on the primary process only; see the module docstring)."""
  record: dict[str, Any] = {"extra_ids": vocab.extra_ids,
                            "chat_template": template.name if template is not None else None}
  if isinstance(vocab, seqio.SentencePieceVocabulary):
    path = os.path.join(checkpoint_dir, SENTENCEPIECE_FILE)
    atomic_file.write(path, [vocab.sp_model], binary=True)
    record["vocabulary"] = SENTENCEPIECE_FILE
  elif isinstance(vocab, vocab_lib.HfTokenizerVocabulary):
    source, target = os.path.dirname(vocab.path), os.path.join(checkpoint_dir, TOKENIZER_DIR)
    os.makedirs(target, exist_ok=True)
    shutil.copyfile(vocab.path, os.path.join(target, "tokenizer.json"))
    for name in TOKENIZER_FILES:
      if name != "tokenizer.json" and os.path.isfile(os.path.join(source, name)):
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    record.update(vocabulary=TOKENIZER_DIR, eos_token=vocab.eos_token, bos_token=vocab.bos_token)
  else:  # e.g. seqio.ByteVocabulary: nothing to copy; inference then needs the gin flag
    logging.warning("%s: a %s is not saved with the checkpoint; inference will need "
                    "--gin.get_vocabulary.path", checkpoint_dir, type(vocab).__name__)
    return
  atomic_file.write_json(os.path.join(checkpoint_dir, VOCABULARY), record)


def load_tokenization(checkpoint_dir: str) -> tuple[seqio.Vocabulary, str | None] | None:
  """(vocabulary, chat template name) saved with a run's checkpoints; None for a checkpoint
  written before runs saved them."""
  path = os.path.join(checkpoint_dir, VOCABULARY)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    record = json.load(f)
  try:
    vocab = vocab_lib.get_vocabulary(
        os.path.join(checkpoint_dir, record["vocabulary"]), extra_ids=record["extra_ids"],
        eos_token=record.get("eos_token"), bos_token=record.get("bos_token"))
    return vocab, record["chat_template"]
  except KeyError as e:
    raise ValueError(f"{path}: field {e.args[0]!r} is missing") from None


def abstract_params(cfg: ModelConfig, mesh: Mesh, rules: rules_lib.Rules) -> Any:
  """The parameters as a plain dict of ShapeDtypeStructs with their shardings on `mesh`."""
  _, abstract = partition.abstract_model(cfg)
  shardings = nnx.to_pure_dict(partition.state_shardings(abstract, mesh, rules))
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                      nnx.to_pure_dict(abstract), shardings)


def load_base(ref: dict[str, Any], cfg: ModelConfig, target: Any, mesh: Mesh,
              rules: rules_lib.Rules) -> Any:
  """The frozen base parameters of a LoRA model `cfg` (a plain dict shaped like `target`,
  the abstract non-adapter parameters) from the base reference `ref` (adapters.py)."""
  if ref["kind"] == "hf":
    from pinchjax.model import hf  # pylint: disable=import-outside-toplevel
    _, params = hf.load_hf(ref["path"], mesh, rules, dtype=cfg.param_dtype,
                           scan_layers=cfg.scan_layers)
    return nnx.to_pure_dict(params)
  return checkpoint.load_params(ref["path"], target, ref["step"])


def load_model(checkpoint_dir: str, mesh: Mesh | None = None,
               rules: rules_lib.Rules | None = None, step: int | None = None,
               lora_base: str | None = None) -> tuple[Transformer, ModelConfig]:
  """The Transformer of a run's checkpoint (latest step by default), sharded on `mesh`
  (default: the gin-configured `make_mesh()`), whatever mesh it was trained on. A LoRA
  run's adapters come on the base its `lora_base.json` names, or on `lora_base` (the same
  base moved elsewhere; its fingerprint is checked)."""
  cfg = load_model_config(checkpoint_dir)
  mesh = mesh if mesh is not None else mesh_lib.make_mesh()
  rules = rules if rules is not None else rules_lib.logical_axis_rules()
  target = abstract_params(cfg, mesh, rules)
  if cfg.lora_rank:
    _, abstract = partition.abstract_model(cfg)
    target, frozen_target = adapters.split(target, adapters.trainable_mask(abstract))
    ref = adapters.read_reference(checkpoint_dir, lora_base)
    frozen = load_base(ref, cfg, frozen_target, mesh, rules)
  params = checkpoint.load_params(checkpoint_dir, target, step)
  if cfg.lora_rank:
    params = adapters.merge(frozen, params)
  graphdef, _ = partition.abstract_model(cfg)
  return nnx.merge(graphdef, nnx.State(params)), cfg
