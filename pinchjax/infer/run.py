"""Generations for an eval task, a mixture or a JSONL file, from a checkpoint: what
`pinchjax infer` and the study runner call.

    from pinchjax.infer.run import infer
    stats = infer(checkpoint="ckpt/", out="gen/alpaca_eval_fi.jsonl", task="alpaca_eval_fi")
"""
from __future__ import annotations

import logging
import os
from typing import Iterator

import gin
import seqio

from pinchjax.data import canonical
from pinchjax.infer import loading
from pinchjax.infer.writer import DecodeConfig, Stats, write_generations

_FIELDS = ("id", "lang", "instruction")


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def task_records(name: str, split: str) -> Iterator[dict[str, str]]:
  """{id, lang, instruction} of every example of a registered task (or a mixture's tasks),
  read from the task's source before any preprocessing, in file order."""
  provider = seqio.get_mixture_or_task(name)
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  for task in tasks:
    for ex in task.source.get_dataset(split, shuffle=False).as_numpy_iterator():
      missing = [f for f in _FIELDS if f not in ex]
      if missing:
        raise ValueError(f"task {task.name!r} split {split!r}: examples lack {missing}; "
                         f"they have {sorted(ex)}")
      yield {f: _text(ex[f]) for f in _FIELDS}


@gin.configurable
def infer(checkpoint: str, out: str, task: str | None = None, mixture: str | None = None,
          input_path: str | None = None, split: str = "test", run: str | None = None,
          batch_size: int = 32, decode_config: DecodeConfig | None = None,
          template: str | None = None) -> Stats:
  """Writes (or completes) the generations file `out`.

  Args:
    checkpoint: a Hugging Face-format directory or a pinchjax training checkpoint
      (see `loading.load_generator`).
    out: the generations JSONL; rerunning skips the ids it already holds.
    task, mixture, input_path: exactly one: a registered task (e.g. `alpaca_eval_fi`), a
      registered mixture, or a canonical JSONL file (responses may be empty).
    split: the split of a task or mixture.
    run: the run name recorded in every line (default: the checkpoint's directory name).
    batch_size: prompts decoded together.
    decode_config: sampler and limits (default: greedy, 256 new tokens; gin-configurable).
    template: chat template name (default: the model family's).
  """
  sources = [s for s in (task, mixture, input_path) if s]
  if len(sources) != 1:
    raise ValueError("give exactly one of task, mixture or input_path")
  if input_path:
    records = [r.to_json() for r in canonical.read_jsonl(input_path, require_response=False)]
  else:
    records = list(task_records(task or mixture, split))
  generator = loading.load_generator(checkpoint, template=template)
  run = run or os.path.basename(os.path.normpath(checkpoint))
  stats = write_generations(generator, records, out, run, decode_config or DecodeConfig(),
                            batch_size)
  logging.info("%s: wrote %d, skipped %d already written, %.1f new tokens/s", out,
               stats.written, stats.skipped, stats.tokens_per_s)
  return stats
