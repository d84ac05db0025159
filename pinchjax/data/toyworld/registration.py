"""Registers a built toy world as SeqIO tasks and mixtures, through the data layer.

The instruction sets go through pinchjax.data.registry exactly like real data, so every
paper mixture exists by name: `toy_mono_{lang}`, `toy_pinch_p{P}`, `toy_pinch_seen_p{P}`,
`toy_k{K}_o{ORDER}`, `toy_pair_{l1}_{l2}`, language tasks `toy_{lang}`, and eval tasks
`toyeval_{lang}`.

Pretraining text has no instruction and no chat frame, which the registry's tasks always
add, so the corpus gets one task of its own here, `toy_pretrain`: each line is an example
with empty "inputs" and the line as "targets" (+ EOS), so the trainer's loss (on targets)
covers every token and its packing and resumable stream work unchanged.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Sequence

import gin
import seqio
import tensorflow as tf

from pinchjax import languages as langs_lib
from pinchjax.data import registry, vocab as vocab_lib
from pinchjax.data.toyworld import build

PRETRAIN_TASK = "toy_pretrain"
_PRETRAIN_REGISTERED: dict[str, str] = {}  # task name -> fingerprint of its corpus + vocab


@seqio.map_over_dataset
def _as_targets(line: tf.Tensor) -> dict[str, tf.Tensor]:
  return {"inputs": tf.constant("", tf.string), "targets": line}


def register_pretraining(corpus_path: str, vocabulary: seqio.Vocabulary,
                         name: str = PRETRAIN_TASK, replace: bool = False) -> str:
  """A seqio Task over a text file, one example a line (see the module docstring)."""
  if not os.path.isfile(corpus_path):
    raise FileNotFoundError(f"no pretraining corpus at {corpus_path}; run build_toyworld")
  st = os.stat(corpus_path)
  fingerprint = json.dumps([os.path.abspath(corpus_path), st.st_size, st.st_mtime_ns,
                            vocab_lib.fingerprint(vocabulary)])
  old = _PRETRAIN_REGISTERED.get(name)
  if old == fingerprint:
    return name
  if old is not None or name in seqio.TaskRegistry.names():
    if not replace:
      raise ValueError(f"{name!r} is already registered with another corpus or vocabulary; "
                       "pass replace=True to re-register it")
    seqio.TaskRegistry.remove(name)
  features = {"inputs": seqio.Feature(vocabulary, add_eos=False),
              "targets": seqio.Feature(vocabulary, add_eos=True)}
  seqio.TaskRegistry.add(
      name, source=seqio.TextLineDataSource({"train": corpus_path}),
      output_features=features,
      preprocessors=[_as_targets,
                     functools.partial(seqio.preprocessors.tokenize, copy_pretokenized=False),
                     seqio.preprocessors.append_eos_after_trim])
  _PRETRAIN_REGISTERED[name] = fingerprint
  return name


@gin.configurable
def register_toyworld(data_dir: str, vocabulary: seqio.Vocabulary | str,
                      template: str = build.TEMPLATE, *, budget: int | None = None, seed: int = 0,
                      replace: bool = False) -> list[str]:
  """Registers the toy world written by build_toyworld(data_dir); returns every name.

  Args:
    data_dir: the directory build_toyworld wrote.
    vocabulary: a seqio Vocabulary or a path (pinchjax.data.vocab.get_vocabulary).
    template: the chat template of the instruction tasks.
    budget: examples per mixture (None: the whole train set of a language).
    seed: the mixtures' seed (id selection, orderings, pairs).
    replace: re-register names registered before with another configuration.
  """
  if isinstance(vocabulary, str):
    vocabulary = vocab_lib.get_vocabulary(vocabulary)
  with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as f:
    langs: Sequence[str] = json.load(f)["arguments"]["languages"]
  seen = [l for l in langs_lib.SEEN if l in langs]
  dataset = registry.register_dataset(
      build.DATASET, data_dir, vocabulary, template, languages=langs, seen=seen,
      budget=budget, seed=seed, replace=replace)
  evalset = registry.register_evalset(build.EVALSET, data_dir, vocabulary, template,
                                      languages=langs, replace=replace)
  pretrain = register_pretraining(build.corpus_path(data_dir), vocabulary, replace=replace)
  return dataset.names + evalset.names + [pretrain]
