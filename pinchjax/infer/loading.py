"""A checkpoint -> a `JaxGenerator` (model, vocabulary, chat template) for inference.

Two kinds of checkpoint are accepted:
  - a Hugging Face-format directory (config.json, *.safetensors, tokenizer.json), loaded with
    pinchjax.checkpoints.hf; the vocabulary is its tokenizer.json and the chat template its
    own jinja template ("tokenizer"), or the model family's when it ships none;
  - a pinchjax run's checkpoints directory (model_config.json + orbax steps), loaded with
    pinchjax.checkpoints.load, with the vocabulary and chat template the run saved beside
    them (pinchjax.checkpoints.metadata). Checkpoints from before runs saved them take the
    gin-bound `get_vocabulary.path` and the model family's template.
`vocabulary` and `template` override what the checkpoint says (an exported toy model reads
as Llama: pass template="toy").
"""
from __future__ import annotations

import os

import gin
import seqio

import pinchjax
from pinchjax import gin_config
from pinchjax.checkpoints import hf, metadata
from pinchjax.data import chat
from pinchjax.data import vocab as vocab_lib
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.model.sharding import Partitioner


def _vocabulary(checkpoint: str, vocabulary: str | seqio.Vocabulary | None,
                saved: seqio.Vocabulary | None) -> seqio.Vocabulary:
  """`vocabulary` if given, else the checkpoint's own, else gin's `get_vocabulary.path`."""
  if isinstance(vocabulary, str):
    return vocab_lib.get_vocabulary(vocabulary)
  if vocabulary is not None:
    return vocabulary
  if saved is not None:
    return saved
  if gin_config.binds("get_vocabulary.path"):
    return vocab_lib.get_vocabulary()
  raise pinchjax.UsageError(
      f"{checkpoint} holds no vocabulary (vocabulary.json; runs before it was saved lack it): "
      "pass --gin.get_vocabulary.path=\"'PATH'\" (a sentencepiece .model or a tokenizer.json "
      "or its directory)")


@gin.configurable
def load_generator(checkpoint: str, template: str | None = None,
                   vocabulary: str | seqio.Vocabulary | None = None,
                   max_context: int | None = None, step: int | None = None,
                   partitioner: Partitioner | None = None,
                   lora_base: str | None = None) -> JaxGenerator:
  """The generator of `checkpoint` (latest step of a run unless `step`), with its parameters
  and decoding placed by `partitioner` (default: `load.default_partitioner`). A LoRA run's
  adapters go on the base its lora_base.json names, or on `lora_base` (moved there)."""
  if not os.path.isdir(checkpoint):
    raise FileNotFoundError(f"checkpoint {checkpoint!r} is not a directory")
  # Imported here: orbax, under it, installs a root logging handler when imported, which
  # would make a command's later logging.basicConfig a no-op.
  from pinchjax.checkpoints import load  # pylint: disable=import-outside-toplevel
  hf_dir = metadata.is_hf_dir(checkpoint)
  if hf_dir:
    vocab = _vocabulary(checkpoint, vocabulary or checkpoint, None)
    own_template = chat.TOKENIZER if chat.tokenizer_template(vocab) is not None else None
  else:
    saved_vocab, own_template = metadata.load_tokenization(checkpoint) or (None, None)
    vocab = _vocabulary(checkpoint, vocabulary, saved_vocab)
  partitioner = partitioner or load.default_partitioner(checkpoint)
  if hf_dir:
    model = hf.load_hf_model(checkpoint, partitioner)
  else:
    model, _ = load.load_model(checkpoint, partitioner, step, lora_base)
  if vocab.vocab_size > model.cfg.vocab_size:
    raise ValueError(f"the vocabulary has {vocab.vocab_size} ids but the model of "
                     f"{checkpoint} only {model.cfg.vocab_size}")
  template = template or own_template or chat.FAMILY_TEMPLATES[model.cfg.family]
  return JaxGenerator(model, vocab, template, max_context, sharding=partitioner)
