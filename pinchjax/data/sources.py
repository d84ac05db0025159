"""Canonical JSONL files as SeqIO: the data layout, a DataSource, and the task recipe.

Layout: DATA_DIR/{dataset}/{split}/{lang}.jsonl (see pinchjax.data.registry). A task built by
`make_task` applies the chat template (inputs = prompt, targets = response + end-of-turn),
tokenizes both with the task's vocabulary and appends EOS to the targets; `id` and `lang` pass
through. A tokenizer's jinja template (hf_chat_template.HfTemplate) tokenizes the rendered
conversation itself: inputs = the prompt's ids after the first (the decoder's start token),
targets = the response and end-of-turn ids. The template preprocessor carries the template as
`chat_template`, so readers of a task (pinchjax.data.pipeline) know its start token.
"""
from __future__ import annotations

import functools
import os
from typing import Sequence

import numpy as np
import seqio
import tensorflow as tf

from pinchjax.data import canonical, chat, hf_chat_template


def layout_path(data_dir: str, dataset: str, split: str, lang: str) -> str:
  return os.path.join(data_dir, dataset, split, f"{lang}.jsonl")


@functools.lru_cache(maxsize=256)
def _load(path: str, lang: str, require_response: bool, _stamp: tuple[int, int]
          ) -> tuple[canonical.Record, ...]:
  return tuple(canonical.read_jsonl(path, "raise", lang=lang, require_response=require_response))


def load_records(path: str, lang: str, require_response: bool = True
                 ) -> tuple[canonical.Record, ...]:
  """A canonical file's records (bad lines raise), cached until the file changes."""
  st = os.stat(path)
  return _load(os.path.abspath(path), lang, require_response, (st.st_size, st.st_mtime_ns))


class JsonlSource(seqio.DataSource):
  """Canonical JSONL files of one language as a seqio DataSource.

  `files` maps split -> path; `ids`, if given, keeps only those example ids (a mixture
  slice, in file order) and `parent` names the task over the whole file, whose tokenized
  examples the slice can reuse. Shuffling is a seeded permutation, so it is deterministic.
  """

  def __init__(self, files: dict[str, str], lang: str, ids: frozenset[str] | None = None,
               require_response: bool = True, parent: str | None = None):
    self._files, self._lang, self._ids = dict(files), lang, ids
    self._require_response = require_response
    self.parent = parent
    super().__init__(splits=tuple(files), caching_permitted=False)

  @property
  def lang(self) -> str:
    return self._lang

  @property
  def ids(self) -> frozenset[str] | None:
    return self._ids

  def records(self, split: str) -> list[canonical.Record]:
    if split not in self._files:
      raise ValueError(f"split {split!r} not available; have {sorted(self._files)}")
    recs = load_records(self._files[split], self._lang, self._require_response)
    return [r for r in recs if self._ids is None or r.id in self._ids]

  @property
  def supports_arbitrary_sharding(self) -> bool:
    return True

  def list_shards(self, split: str) -> Sequence[str]:
    return [self._files[split]]

  def num_input_examples(self, split: str) -> int:
    return len(self.records(split))

  def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None,
                  shard_info: seqio.ShardInfo | None = None, *, sequence_length=None,
                  use_cached: bool = False, num_epochs: int | None = 1) -> tf.data.Dataset:
    del sequence_length, use_cached  # the interface requires them; nothing to do
    recs = self.records(split)
    if shard_info is not None:
      recs = recs[shard_info.index::shard_info.num_shards]
    if shuffle:
      order = np.random.default_rng(0 if seed is None else int(seed)).permutation(len(recs))
      recs = [recs[i] for i in order]
    columns = {f: tf.constant([getattr(r, f) for r in recs], tf.string)
               for f in ("id", "lang", "instruction", "response")}
    ds = tf.data.Dataset.from_tensor_slices(columns)
    return ds.repeat(num_epochs) if num_epochs != 1 else ds


def _apply_template(template: chat.Template):
  head, tail = template.prompt.split("{instruction}")

  @seqio.map_over_dataset
  @tf.autograph.experimental.do_not_convert  # plain tensor ops; nothing to convert
  def fn(ex):
    out = dict(ex)
    out["inputs"] = tf.strings.join([head, ex["instruction"], tail])
    out["targets"] = tf.strings.join([ex["response"], template.response_suffix])
    return out
  fn.chat_template = template
  return fn


def _render_and_tokenize(template: hf_chat_template.HfTemplate, vocabulary: seqio.Vocabulary):
  start = template.start_id(vocabulary)

  def ids(instruction: bytes, response: bytes) -> tuple[np.ndarray, np.ndarray]:
    prompt, targets = template.example_ids(vocabulary, instruction.decode("utf-8"),
                                           response.decode("utf-8"))
    if prompt[0] != start:
      raise ValueError(f"the chat template's prompt for {instruction[:40]!r} starts with id "
                       f"{prompt[0]}, not {start} as every other prompt")
    return np.asarray(prompt[1:], np.int32), np.asarray(targets, np.int32)

  @seqio.map_over_dataset
  @tf.autograph.experimental.do_not_convert
  def fn(ex):
    out = dict(ex)
    inputs, targets = tf.numpy_function(ids, [ex["instruction"], ex["response"]],
                                        (tf.int32, tf.int32), stateful=False)
    out["inputs"], out["targets"] = tf.ensure_shape(inputs, [None]), tf.ensure_shape(
        targets, [None])
    return out
  fn.chat_template = template
  return fn


def make_task(name: str, source: JsonlSource, vocabulary: seqio.Vocabulary,
              template: chat.ChatTemplate) -> seqio.Task:
  """Registers a seqio Task: chat template -> "inputs"/"targets" text, tokenize, EOS (a
  tokenizer's jinja template: -> "inputs"/"targets" ids, see the module docstring)."""
  jinja = isinstance(template, hf_chat_template.HfTemplate)
  out = {"inputs": seqio.Feature(vocabulary, add_eos=False),
         "targets": seqio.Feature(vocabulary, add_eos=not jinja)}
  if jinja:
    preprocessors = [_render_and_tokenize(template, vocabulary)]
  else:
    preprocessors = [_apply_template(template),
                     functools.partial(seqio.preprocessors.tokenize, copy_pretokenized=False),
                     seqio.preprocessors.append_eos_after_trim]
  return seqio.TaskRegistry.add(name, source=source, output_features=out,
                                preprocessors=preprocessors)
