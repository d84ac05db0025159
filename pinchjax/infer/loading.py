"""A checkpoint -> a `JaxGenerator` (model, vocabulary, chat template) for inference.

Two kinds of checkpoint are accepted:
  - a Hugging Face-format directory (config.json, *.safetensors, tokenizer.json), loaded with
    pinchjax.model.hf; the vocabulary is its tokenizer.json and the chat template its own
    jinja template ("tokenizer"), or the model family's when it ships none;
  - a pinchjax run's checkpoints directory (model_config.json + orbax steps), loaded with
    pinchjax.train.load, with the vocabulary and chat template the run saved beside them
    (vocabulary.json). Checkpoints from before runs saved them take the gin-bound
    `get_vocabulary.path` and the model family's template.
`vocabulary` and `template` override what the checkpoint says (an exported toy model reads
as Llama: pass template="toy").
"""
from __future__ import annotations

import os
from typing import Sequence

import gin
import jax
import seqio

import pinchjax

from jax.sharding import Mesh

from pinchjax.data import chat
from pinchjax.data import vocab as vocab_lib
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.model.config import ModelConfig
from pinchjax.parallel import cpu_host
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import rules as rules_lib


def is_hf_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, "config.json"))


def default_mesh(checkpoint: str, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """gin's `make_mesh()`; on a CPU-only host whose gin config binds no `make_mesh.shape`,
  `cpu_host.decode_mesh` of the checkpoint's model (weights split over the cores).
  `devices`: those to use (default: all of the run's)."""
  if _gin_binds("make_mesh.shape") or jax.default_backend() != "cpu":
    return mesh_lib.make_mesh(devices=devices)
  if is_hf_dir(checkpoint):
    cfg = ModelConfig.from_hf_config(checkpoint)
  else:
    from pinchjax.train import load  # pylint: disable=g-import-not-at-top
    cfg = load.load_model_config(checkpoint)
  return cpu_host.decode_mesh(cfg, devices)


def _gin_binds(parameter: str) -> bool:
  try:
    gin.query_parameter(parameter)
  except ValueError:  # not bound
    return False
  return True


def _vocabulary(checkpoint: str, vocabulary: str | seqio.Vocabulary | None,
                saved: seqio.Vocabulary | None) -> seqio.Vocabulary:
  """`vocabulary` if given, else the checkpoint's own, else gin's `get_vocabulary.path`."""
  if isinstance(vocabulary, str):
    return vocab_lib.get_vocabulary(vocabulary)
  if vocabulary is not None:
    return vocabulary
  if saved is not None:
    return saved
  if _gin_binds("get_vocabulary.path"):
    return vocab_lib.get_vocabulary()
  raise pinchjax.UsageError(
      f"{checkpoint} holds no vocabulary (vocabulary.json; runs before it was saved lack it): "
      "pass --gin.get_vocabulary.path=\"'PATH'\" (a sentencepiece .model or a tokenizer.json "
      "or its directory)")


@gin.configurable
def load_generator(checkpoint: str, template: str | None = None,
                   vocabulary: str | seqio.Vocabulary | None = None,
                   max_context: int | None = None, step: int | None = None,
                   mesh: Mesh | None = None, rules: rules_lib.Rules | None = None,
                   lora_base: str | None = None) -> JaxGenerator:
  """The generator of `checkpoint` (latest step of a run unless `step`), with its parameters
  and decoding on `mesh` (default: `default_mesh`) under `rules` (default: gin's). A LoRA
  run's adapters go on the base its lora_base.json names, or on `lora_base` (moved there)."""
  if not os.path.isdir(checkpoint):
    raise FileNotFoundError(f"checkpoint {checkpoint!r} is not a directory")
  hf_dir = is_hf_dir(checkpoint)
  if hf_dir:
    vocab = _vocabulary(checkpoint, vocabulary or checkpoint, None)
    own_template = chat.TOKENIZER if chat.tokenizer_template(vocab) is not None else None
  else:
    from pinchjax.train import load  # pylint: disable=g-import-not-at-top
    saved_vocab, own_template = load.load_tokenization(checkpoint) or (None, None)
    vocab = _vocabulary(checkpoint, vocabulary, saved_vocab)
  mesh = mesh if mesh is not None else default_mesh(checkpoint)
  rules = rules if rules is not None else rules_lib.logical_axis_rules()
  if hf_dir:
    from pinchjax.model import hf  # pylint: disable=g-import-not-at-top
    model = hf.load_hf_model(checkpoint, mesh, rules)
  else:
    model, _ = load.load_model(checkpoint, mesh, rules, step, lora_base)
  if vocab.vocab_size > model.cfg.vocab_size:
    raise ValueError(f"the vocabulary has {vocab.vocab_size} ids but the model of "
                     f"{checkpoint} only {model.cfg.vocab_size}")
  template = template or own_template or chat.FAMILY_TEMPLATES[model.cfg.family]
  return JaxGenerator(model, vocab, template, max_context, sharding=(mesh, rules))
