"""A checkpoint -> a `JaxGenerator` (model, vocabulary, chat template) for inference.

Two kinds of checkpoint are accepted:
  - a Hugging Face-format directory (config.json, *.safetensors, tokenizer.json), loaded with
    pinchjax.model.hf; the vocabulary is its tokenizer.json;
  - a pinchjax run's checkpoints directory (model_config.json + orbax steps), loaded with
    pinchjax.train.load; the vocabulary is `vocabulary` or else the gin-bound
    `get_vocabulary.path` (a run does not copy its vocabulary).
The chat template defaults to the model family's.
"""
from __future__ import annotations

import os

import gin
import seqio

from pinchjax.data import vocab as vocab_lib
from pinchjax.infer.jax_generator import JaxGenerator

FAMILY_TEMPLATES = {"llama": "llama3", "qwen2": "qwen2", "gemma3": "gemma", "toy": "toy"}


def is_hf_dir(path: str) -> bool:
  return os.path.isfile(os.path.join(path, "config.json"))


@gin.configurable
def load_generator(checkpoint: str, template: str | None = None,
                   vocabulary: str | seqio.Vocabulary | None = None,
                   max_context: int | None = None, step: int | None = None) -> JaxGenerator:
  """The generator of `checkpoint` (latest step of a run unless `step`)."""
  if not os.path.isdir(checkpoint):
    raise FileNotFoundError(f"checkpoint {checkpoint!r} is not a directory")
  if is_hf_dir(checkpoint):
    from pinchjax.model import hf  # pylint: disable=g-import-not-at-top
    model = hf.load_hf(checkpoint)
    vocabulary = vocabulary or checkpoint
  else:
    from pinchjax.train import load  # pylint: disable=g-import-not-at-top
    model, _ = load.load_model(checkpoint, step=step)
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
                      max_context)
