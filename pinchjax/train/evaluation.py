"""Teacher-forced evaluation during training: the loss on each eval task, by language.

Each task (a mixture counts as each of its tasks) is read once through, unshuffled, by
`pipeline.get_eval_dataset`; losses are token-weighted sums over every batch, so each target
token counts exactly once. Results are keyed `eval/loss/<label>` (plus the overall
`eval/loss`), the label being the task's language code when its name ends in one.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from pinchjax import languages
from pinchjax.data import pipeline
from pinchjax.train import distributed, step as step_lib


def eval_tasks(names: Iterable[str]) -> dict[str, str]:
  """label -> task, expanding mixtures; the label is the task's language code when its name
  ends in `_<code>` or `.<code>` of a known language, else the task name."""
  out = {}
  for name in names:
    for task in pipeline.resolve(name)[0]:
      code = re.split(r"[_.]", task.name)[-1]
      out[code if code != task.name and code in languages.known() else task.name] = task.name
  return out


class Evaluator:
  """Call with the parameters to get {"eval/loss/<label>": loss, ..., "eval/loss": loss}."""

  def __init__(self, graphdef: nnx.GraphDef, param_shardings: Any,
               batch_sharding: NamedSharding, tasks: Sequence[str], split: str,
               sequence_length: int, batch_size: int):
    self.batch_sharding = batch_sharding
    self.datasets = {
        label: pipeline.get_eval_dataset(task, split, sequence_length, batch_size,
                                         shard_index=jax.process_index(),
                                         num_shards=jax.process_count())
        for label, task in eval_tasks(tasks).items()}
    replicated = NamedSharding(batch_sharding.mesh, PartitionSpec())
    self.step = jax.jit(step_lib.make_eval_step(graphdef),
                        in_shardings=(param_shardings, batch_sharding), out_shardings=replicated)

  def __call__(self, params: Any) -> dict[str, float]:
    out, total_ce, total_w = {}, 0.0, 0.0
    for label, dataset in self.datasets.items():
      sums = jax.device_get([self.step(params, distributed.global_batch(b, self.batch_sharding))
                             for b in dataset])
      ce, w = float(np.sum([s[0] for s in sums])), float(np.sum([s[1] for s in sums]))
      out[f"eval/loss/{label}"] = ce / max(w, 1.0)
      total_ce, total_w = total_ce + ce, total_w + w
    out["eval/loss"] = total_ce / max(total_w, 1.0)
    return out
