"""What the trainer calls: packed numpy batches from a SeqIO mixture or task, resumable exactly.

    ds = get_dataset("toy_pinch_p10", "train", sequence_length=256, batch_size=64, seed=0)
    batch = next(ds)            # dict of int32 [64, 256] arrays, see pinchjax.data.features
    saved = ds.state()          # JSON-serialisable; store it with the checkpoint
    ds2 = get_dataset(...same arguments...); ds2.restore(saved)
    next(ds2)                   # == the batch an uninterrupted `ds` yields next

How the stream is made. Each task of the mixture is tokenized once through its SeqIO
preprocessors (chat template, tokenize, EOS; see pinchjax.data.sources), in file order, and
kept in memory. The example stream is then a pure function of (seed, position): the task of
stream position i is drawn with probability proportional to the mixture's rates (counter-based
generator, blocks of 4,096 positions), and a task's k-th draw is element k mod n of a
permutation of its n examples that is re-drawn every epoch from (seed, task, epoch). Batches
are rows packed greedily in stream order (`features.pack_greedy`), so the state at a batch
boundary is just the stream position and per-task draw counts: restore is O(1), not a replay.

Sharding: `batch_size` is the global batch; shard `shard_index` of `num_shards` gets rows
[shard_index * b, (shard_index + 1) * b) of every global batch, b = batch_size / num_shards.
All shards plan the whole global batch (cheap: lengths only) so they stay in step.

Examples longer than `sequence_length` are cut at the end (counted as truncated); examples
whose prompt alone fills the sequence are left out and counted (`stats()`), with a warning.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Iterator, Sequence

import numpy as np
import seqio

from pinchjax.data import chat, features
from pinchjax.data import registry

_BLOCK = 4096


@dataclasses.dataclass
class TokenizedTask:
  """A task's split, tokenized: per example the prompt and the target (response + EOS) ids."""
  name: str
  inputs: list[np.ndarray]
  targets: list[np.ndarray]

  def __len__(self) -> int:
    return len(self.targets)


_CACHE: dict[tuple[str, str], tuple[seqio.Task, TokenizedTask]] = {}


def tokenize_task(task: seqio.Task, split: str) -> TokenizedTask:
  """Runs the task's SeqIO preprocessors once (file order) and caches the token ids.

  A mixture slice registered with a parent task (same file, vocabulary and template) takes
  its examples from the parent's tokenization instead of tokenizing the file again.
  """
  key = (task.name, split)
  cached = _CACHE.get(key)
  if cached is not None and cached[0] is task:
    return cached[1]
  source = task.source
  parent = getattr(source, "parent", None)
  if parent is not None:
    whole = tokenize_task(seqio.get_mixture_or_task(parent), split)
    parent_source = seqio.get_mixture_or_task(parent).source
    keep = [i for i, r in enumerate(parent_source.records(split)) if r.id in source.ids]
    tok = TokenizedTask(task.name, [whole.inputs[i] for i in keep],
                        [whole.targets[i] for i in keep])
  else:
    start = time.perf_counter()
    ds = task.get_dataset(sequence_length=None, split=split, shuffle=False, use_cached=False,
                          num_epochs=1)
    # Ragged batches halve the per-example cost of leaving TensorFlow.
    ds = ds.map(lambda ex: {"inputs": ex["inputs"], "targets": ex["targets"]}).ragged_batch(1024)
    inputs, targets = [], []
    for batch in ds.as_numpy_iterator():
      inputs.extend(np.asarray(x, np.int32) for x in batch["inputs"])
      targets.extend(np.asarray(x, np.int32) for x in batch["targets"])
    tok = TokenizedTask(task.name, inputs, targets)
    logging.info("tokenized %s/%s: %d examples in %.1fs", task.name, split, len(tok),
                 time.perf_counter() - start)
  _CACHE[key] = (task, tok)
  return tok


def resolve(name: str) -> tuple[list[seqio.Task], np.ndarray]:
  """A mixture's tasks (sorted by name) and normalised rates; a task is a mixture of one."""
  provider = registry.get_provider(name)
  if isinstance(provider, seqio.Mixture):
    tasks = sorted(provider.tasks, key=lambda t: t.name)
    rates = np.array([provider.get_rate(t) for t in tasks], np.float64)
  else:
    tasks, rates = [provider], np.ones(1)
  if not rates.sum() > 0:
    raise ValueError(f"{name}: mixing rates {rates.tolist()} do not sum to a positive number")
  return tasks, rates / rates.sum()


def _vocabulary(tasks: Sequence[seqio.Task]) -> seqio.Vocabulary:
  vocab = tasks[0].output_features["targets"].vocabulary
  for t in tasks[1:]:
    if t.output_features["targets"].vocabulary != vocab:
      raise ValueError(f"tasks {tasks[0].name} and {t.name} use different vocabularies")
  return vocab


def task_template(task: seqio.Task) -> chat.ChatTemplate | None:
  """The chat template a task frames its examples with (None: no chat frame, e.g. a
  pretraining corpus); pinchjax.data.sources marks the preprocessor that applies it."""
  found = [p.chat_template for p in task.preprocessors if hasattr(p, "chat_template")]
  return found[0] if found else None


def _template(tasks: Sequence[seqio.Task]) -> chat.ChatTemplate | None:
  framed = [(t.name, tmpl) for t in tasks if (tmpl := task_template(t)) is not None]
  for name, tmpl in framed[1:]:
    if tmpl != framed[0][1]:
      raise ValueError(f"tasks {framed[0][0]} and {name} use different chat templates "
                       f"({framed[0][1].name}, {tmpl.name})")
  return framed[0][1] if framed else None


def _start_id(vocab: seqio.Vocabulary, template: chat.ChatTemplate | None) -> int:
  """The decoder's first input: a jinja template's first rendered token, else chat.start_id."""
  return template.start_id(vocab) if template is not None else chat.start_id(vocab)


class _Examples:
  """The tokenized tasks cut to one sequence length, with unusable examples left out."""

  def __init__(self, tasks: Sequence[seqio.Task], split: str, length: int):
    if not isinstance(length, (int, np.integer)) or length < 2:
      raise ValueError(f"sequence_length must be an int >= 2 (the total decoder length), "
                       f"got {length!r}")
    self.length = length = int(length)
    self.names = [t.name for t in tasks]
    self.examples: list[list[tuple[np.ndarray, int]]] = []
    self.truncated: dict[str, int] = {}
    self.dropped: dict[str, int] = {}
    for task in tasks:
      tok = tokenize_task(task, split)
      joined = [features.join_example(i, t, length) for i, t in zip(tok.inputs, tok.targets)]
      kept = [j for j in joined if j is not None]
      self.dropped[task.name] = len(joined) - len(kept)
      self.truncated[task.name] = sum(
          len(i) + len(t) > length for i, t in zip(tok.inputs, tok.targets)
      ) - self.dropped[task.name]
      if self.dropped[task.name]:
        logging.warning("%s/%s: left out %d of %d examples whose prompt fills all %d tokens",
                        task.name, split, self.dropped[task.name], len(joined), length)
      if self.truncated[task.name]:
        logging.warning("%s/%s: cut %d of %d examples to %d tokens", task.name, split,
                        self.truncated[task.name], len(joined), length)
      if not kept:
        raise ValueError(f"{task.name}/{split}: no usable examples at sequence length {length}")
      self.examples.append(kept)
    self.lengths = [np.array([len(e[0]) for e in ex], np.int64) for ex in self.examples]

  def stats(self) -> dict[str, Any]:
    return {"examples": {n: len(e) for n, e in zip(self.names, self.examples)},
            "truncated": self.truncated, "dropped_prompt_too_long": self.dropped}


class DatasetIterator:
  """An endless, seeded iterator of packed batches whose position can be saved and restored."""

  def __init__(self, name: str, split: str, sequence_length: int, batch_size: int, seed: int,
               shuffle: bool, pack: bool, shard_index: int, num_shards: int):
    # Plain ints keep state() JSON-serialisable when callers pass numpy integers.
    batch_size, seed = int(batch_size), int(seed)
    shard_index, num_shards = int(shard_index), int(num_shards)
    if num_shards < 1 or not 0 <= shard_index < num_shards:
      raise ValueError(f"shard_index {shard_index} is not in [0, num_shards={num_shards})")
    if batch_size < 1 or batch_size % num_shards:
      raise ValueError(f"batch_size {batch_size} must be a positive multiple of "
                       f"num_shards {num_shards}")
    tasks, self.rates = resolve(name)
    self.examples = _Examples(tasks, split, sequence_length)
    self.vocabulary, self.chat_template = _vocabulary(tasks), _template(tasks)
    self.start_id = _start_id(self.vocabulary, self.chat_template)
    self.config = {"name": name, "split": split, "sequence_length": self.examples.length,
                   "batch_size": batch_size, "seed": seed, "shuffle": shuffle, "pack": pack,
                   "num_shards": num_shards, "tasks": self.examples.names}
    self.length, self.rows, self.seed = self.examples.length, batch_size, seed
    self.shuffle, self.pack = shuffle, pack
    self.shard_rows = slice(shard_index * batch_size // num_shards,
                            (shard_index + 1) * batch_size // num_shards)
    self.position = 0
    self.counts = np.zeros(len(tasks), np.int64)
    self.batches = 0
    self.last_examples: list[list[tuple[str, int]]] = []  # (task, example) per row, this shard
    self._choice_block: tuple[int, np.ndarray] | None = None
    self._perms: dict[tuple[int, int], np.ndarray] = {}
    self._window = batch_size * 4  # lookahead; grows to what packing needs

  # -- the stream as a function of position ------------------------------------------------
  def _choices(self, start: int, n: int) -> np.ndarray:
    out = []
    for block in range(start // _BLOCK, (start + n - 1) // _BLOCK + 1):
      if self._choice_block is None or self._choice_block[0] != block:
        rng = np.random.default_rng([self.seed, 7, block])
        self._choice_block = (block, rng.choice(len(self.rates), size=_BLOCK, p=self.rates))
      out.append(self._choice_block[1])
    flat = np.concatenate(out)
    offset = start - (start // _BLOCK) * _BLOCK
    return flat[offset:offset + n]

  def _element(self, task: int, draw: int) -> int:
    n = len(self.examples.examples[task])
    epoch, k = divmod(draw, n)
    if not self.shuffle:
      return k
    perm = self._perms.get((task, epoch))
    if perm is None:
      self._perms = {key: p for key, p in self._perms.items() if key[0] != task}
      perm = np.random.default_rng([self.seed, 11, task, epoch]).permutation(n)
      self._perms[(task, epoch)] = perm
    return int(perm[k])

  def _lookahead(self, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Task and per-task draw number of the next n stream positions."""
    tasks = self._choices(self.position, n)
    draws = np.empty(n, np.int64)
    for t in range(len(self.rates)):
      where = tasks == t
      draws[where] = self.counts[t] + np.arange(where.sum())
    return tasks, draws

  # -- batches ------------------------------------------------------------------------------
  def _plan(self) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Packs the next global batch from a lookahead window that is large enough: one that
    still has examples left over after the last row is full."""
    while True:
      tasks, draws = self._lookahead(self._window)
      elems = [self._element(int(t), int(d)) for t, d in zip(tasks, draws)]
      lengths = [int(self.examples.lengths[t][e]) for t, e in zip(tasks, elems)]
      plan = features.pack_greedy(lengths, self.length, self.rows, self.pack)
      if len(plan) == self.rows and plan[-1][-1] + 1 < self._window:
        return plan, tasks, np.array(elems)
      self._window *= 2

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    plan, tasks, elems = self._plan()
    mine = plan[self.shard_rows]
    batch = features.empty_rows(len(mine), self.length)
    self.last_examples = []
    for r, row in enumerate(mine):
      features.fill_row(batch, r, [self.examples.examples[tasks[i]][elems[i]] for i in row],
                        self.start_id)
      self.last_examples.append([(self.examples.names[tasks[i]], int(elems[i])) for i in row])
    used = plan[-1][-1] + 1
    self.counts += np.bincount(tasks[:used], minlength=len(self.rates))
    self.position += used
    self.batches += 1
    return batch

  # -- resume -------------------------------------------------------------------------------
  def state(self) -> dict[str, Any]:
    """The position after the last batch, JSON-serialisable."""
    return {"position": self.position, "counts": self.counts.tolist(),
            "batches": self.batches, "config": self.config}

  def restore(self, state: dict[str, Any]) -> None:
    """Continues exactly where `state` was taken; the configuration must be the same."""
    if state.get("config") != self.config:
      raise ValueError(f"data state was saved for {state.get('config')}, "
                       f"not for this dataset {self.config}")
    self.position = int(state["position"])
    self.counts = np.array(state["counts"], np.int64)
    self.batches = int(state["batches"])

  def stats(self) -> dict[str, Any]:
    return self.examples.stats()


def get_dataset(mixture_or_task_name: str, split: str, sequence_length: int, batch_size: int,
                seed: int, shuffle: bool = True, pack: bool = True, shard_index: int = 0,
                num_shards: int = 1) -> DatasetIterator:
  """The training stream of a registered mixture or task (see the module docstring).

  Args:
    mixture_or_task_name: a registered seqio Mixture or Task (registered on first use from
      gin-configured data if needed, see registry.get_provider).
    split: the split of every task ("train").
    sequence_length: tokens per row (prompt + response of all packed examples).
    batch_size: rows of the global batch; a multiple of num_shards.
    seed: fixes task choices and the per-epoch order of every task.
    shuffle: False keeps each task in file order (tasks are still drawn by rate).
    pack: False puts one example in each row.
    shard_index, num_shards: this host's rows of the global batch.

  Returns:
    a DatasetIterator: `next()` gives a dict of int32 [batch_size // num_shards,
    sequence_length] arrays (features.FEATURES); `state()` / `restore()` resume exactly;
    `vocabulary` and `chat_template` are what its tasks tokenize and frame examples with;
    `stats()` counts truncated and left-out examples; `last_examples` names the (task,
    example index) of every segment of the last batch.
  """
  return DatasetIterator(mixture_or_task_name, split, sequence_length, batch_size, seed,
                         shuffle, pack, shard_index, num_shards)


class EvalDataset:
  """One pass over every example of a task (or of each task of a mixture), in file order.

  Batches have `batch_size / num_shards` rows; the last is completed with empty rows (all
  zeros, so zero loss weight). Summing loss weights over all batches counts every target
  token exactly once. `num_examples` and `stats()` say what was covered and left out.
  """

  def __init__(self, name: str, split: str, sequence_length: int, batch_size: int,
               pack: bool, shard_index: int, num_shards: int):
    if batch_size % num_shards:
      raise ValueError(f"batch_size {batch_size} is not a multiple of num_shards {num_shards}")
    tasks, _ = resolve(name)
    self.examples = _Examples(tasks, split, sequence_length)
    self.vocabulary, self.chat_template = _vocabulary(tasks), _template(tasks)
    self.start_id = _start_id(self.vocabulary, self.chat_template)
    self.length, self.rows, self.pack = self.examples.length, batch_size, pack
    self.shard_index, self.num_shards = shard_index, num_shards
    self.segments = [e for ex in self.examples.examples for e in ex]
    self.num_examples = len(self.segments)

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    lengths = [len(s[0]) for s in self.segments]
    plan = features.pack_greedy(lengths, self.length, len(lengths), self.pack)
    per_shard = self.rows // self.num_shards
    for start in range(0, len(plan), self.rows):
      global_rows = plan[start:start + self.rows]
      mine = global_rows[self.shard_index * per_shard:(self.shard_index + 1) * per_shard]
      batch = features.empty_rows(per_shard, self.length)
      for r, row in enumerate(mine):
        features.fill_row(batch, r, [self.segments[i] for i in row], self.start_id)
      yield batch

  def stats(self) -> dict[str, Any]:
    return self.examples.stats()


def get_eval_dataset(mixture_or_task_name: str, split: str, sequence_length: int,
                     batch_size: int, pack: bool = True, shard_index: int = 0,
                     num_shards: int = 1) -> EvalDataset:
  """A finite, unshuffled, single pass (e.g. per-language validation loss on
  `{dataset}_{lang}` with split "validation")."""
  return EvalDataset(mixture_or_task_name, split, sequence_length, batch_size, pack,
                     shard_index, num_shards)
