"""A checkpoint -> a `JaxGenerator` (model, vocabulary, chat template) for inference.

Two kinds of checkpoint are accepted:
  - a Hugging Face-format directory (config.json, *.safetensors, tokenizer.json), loaded with
    pinchjax.model.hf; the vocabulary is its tokenizer.json;
  - a pinchjax run's checkpoints directory (model_config.json + orbax steps), loaded with
    pinchjax.train.load; the vocabulary is `vocabulary` or else the gin-bound
    `get_vocabulary.path` (a run does not copy its vocabulary).
The chat template defaults to the model family's (an exported toy model reads as Llama:
pass template="toy").
"""
from __future__ import annotations

import os

import gin
import jax
import seqio

from jax.sharding import Mesh

from pinchjax.data import vocab as vocab_lib
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.model.config import ModelConfig
from pinchjax.parallel import cpu_host
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import rules as rules_lib

FAMILY_TEMPLATES = {"llama": "llama3", "qwen2": "qwen2", "gemma3": "gemma", "toy": "toy"}


def is_hf_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, "config.json"))


def default_mesh(checkpoint: str) -> Mesh:
  """gin's `make_mesh()`; on a CPU-only host whose gin config binds no `make_mesh.shape`,
  `cpu_host.decode_mesh` of the checkpoint's model (weights split over the cores)."""
  if _gin_binds("make_mesh.shape") or jax.default_backend() != "cpu":
    return mesh_lib.make_mesh()
  if is_hf_dir(checkpoint):
    cfg = ModelConfig.from_hf_config(checkpoint)
  else:
    from pinchjax.train import load  # pylint: disable=g-import-not-at-top
    cfg = load.load_model_config(checkpoint)
  return cpu_host.decode_mesh(cfg)


def _gin_binds(parameter: str) -> bool:
  try:
    gin.query_parameter(parameter)
  except ValueError:  # not bound
    return False
  return True


@gin.configurable
def load_generator(checkpoint: str, template: str | None = None,
                   vocabulary: str | seqio.Vocabulary | None = None,
                   max_context: int | None = None, step: int | None = None,
                   mesh: Mesh | None = None, rules: rules_lib.Rules | None = None
                   ) -> JaxGenerator:
  """The generator of `checkpoint` (latest step of a run unless `step`), with its parameters
  and decoding on `mesh` (default: `default_mesh`) under `rules` (default: gin's)."""
  if not os.path.isdir(checkpoint):
    raise FileNotFoundError(f"checkpoint {checkpoint!r} is not a directory")
  mesh = mesh if mesh is not None else default_mesh(checkpoint)
  rules = rules if rules is not None else rules_lib.logical_axis_rules()
  if is_hf_dir(checkpoint):
    from pinchjax.model import hf  # pylint: disable=g-import-not-at-top
    model = hf.load_hf_model(checkpoint, mesh, rules)
    vocabulary = vocabulary or checkpoint
  else:
    from pinchjax.train import load  # pylint: disable=g-import-not-at-top
    model, _ = load.load_model(checkpoint, mesh, rules, step)
  if vocabulary is None:
    vocab = vocab_lib.get_vocabulary()  # gin: get_vocabulary.path
  elif isinstance(vocabulary, str):
    vocab = vocab_lib.get_vocabulary(vocabulary)
  else:
    vocab = vocabulary
  if vocab.vocab_size > model.cfg.vocab_size:
    raise ValueError(f"the vocabulary has {vocab.vocab_size} ids but the model of "
                     f"{checkpoint} only {model.cfg.vocab_size}")
  return JaxGenerator(model, vocab, template or FAMILY_TEMPLATES[model.cfg.family],
                      max_context, sharding=(mesh, rules))
