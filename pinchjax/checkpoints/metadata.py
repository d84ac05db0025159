"""What a run's checkpoints directory says about itself: the model config, the vocabulary
and the chat template, saved next to the orbax step directories so that the checkpoint can be
used with nothing else (inference, serving, the judge, conversion, further tuning):

  model_config.json   the ModelConfig fields
  vocab.model         the sentencepiece vocabulary, or
  tokenizer/          the Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json,
                      chat_template.jinja, ...)
  vocabulary.json     {"vocabulary": "vocab.model" | "tokenizer", "extra_ids", "eos_token",
                      "bos_token", "chat_template": a pinchjax template name, "tokenizer" (the
                      tokenizer's own jinja template) or null (examples had no chat frame)}

  lora_base.json      (LoRA runs) the base the adapters go on; see pinchjax.checkpoints.adapters

Checkpoints written before vocabularies were saved have only model_config.json;
`load_tokenization` returns None for them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from typing import Any

import seqio

from pinchjax import atomic_file
from pinchjax.checkpoints.hf import TOKENIZER_FILES
from pinchjax.data import chat
from pinchjax.data import vocab as vocab_lib
from pinchjax.model import hf_config
from pinchjax.model.config import ModelConfig

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


def is_hf_dir(path: str) -> bool:
  """Whether `path` is a Hugging Face directory (config.json) rather than a run's."""
  return os.path.isfile(os.path.join(path, "config.json"))


def model_config(checkpoint: str) -> ModelConfig:
  """The ModelConfig of a Hugging Face directory or of a run's checkpoints directory."""
  if is_hf_dir(checkpoint):
    return hf_config.from_hf(checkpoint)
  return load_model_config(checkpoint)
