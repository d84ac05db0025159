"""Generations for an eval task, a mixture or a JSONL file, from a checkpoint: what
`pinchjax infer` and the study runner call.

    from pinchjax.infer.run import infer
    stats = infer(checkpoint="ckpt/", out="gen/alpaca_eval_fi.jsonl", task="alpaca_eval_fi")
"""
from __future__ import annotations

import logging
import os

import gin
import jax
import seqio

from pinchjax.data import canonical, registry
from pinchjax.infer import loading
from pinchjax.infer.writer import DecodeConfig, Stats, existing_keys, write_generations


def task_records(name: str, split: str) -> list[dict[str, str]]:
  """{id, lang, instruction} of every example of a registered task (or of each task of a
  mixture), in file order."""
  provider = registry.get_provider(name)
  tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
  out = []
  for task in tasks:
    if not isinstance(task.source, registry.JsonlSource):
      raise ValueError(f"{task.name} is not a pinchjax task over canonical JSONL")
    out += [{"id": r.id, "lang": r.lang, "instruction": r.instruction}
            for r in task.source.records(split)]
  return out


def run_name(checkpoint: str) -> str:
  """A run's name from its checkpoint path: `runs/p10/checkpoints` -> `p10`."""
  parts = os.path.normpath(os.path.abspath(checkpoint)).split(os.sep)
  return parts[-2] if parts[-1] == "checkpoints" and len(parts) > 1 else parts[-1]


@gin.configurable
def infer(checkpoint: str, out: str, task: str | None = None, mixture: str | None = None,
          input_path: str | None = None, split: str = "test", run: str | None = None,
          batch_size: int = 32, decode_config: DecodeConfig | None = None,
          template: str | None = None, process_shard: tuple[int, int] = (0, 1)) -> Stats:
  """Writes (or completes) the generations file `out`.

  Args:
    checkpoint: a Hugging Face-format directory or a pinchjax training checkpoint
      (see `loading.load_generator`).
    out: the generations JSONL; rerunning skips the ids it already holds.
    task, mixture, input_path: exactly one: a registered task (e.g. `alpaca_eval_fi`), a
      registered mixture, or a canonical JSONL file (responses may be empty).
    split: the split of a task or mixture.
    run: the run name recorded in every line (default: `run_name(checkpoint)`).
    batch_size: prompts decoded together.
    decode_config: sampler and limits (default: greedy, 256 new tokens; gin-configurable).
    template: chat template name (default: the model family's).
    process_shard: (index, count): decode only the rows index, index + count, ... on this
      process's own devices (a multi-process study splits an eval set this way).
  """
  sources = [s for s in (task, mixture, input_path) if s]
  if len(sources) != 1:
    raise ValueError("give exactly one of task, mixture or input_path (pinchjax infer: "
                     "--task, --mixture or --input)")
  if input_path:
    records = [r.to_json() for r in canonical.read_jsonl(input_path, require_response=False)]
  else:
    records = task_records(task or mixture, split)
  index, count = process_shard
  records = records[index::count]
  run = run or run_name(checkpoint)
  decode_config = decode_config or DecodeConfig()
  done = existing_keys(out, run, decode_config)
  if all((r["lang"], r["id"]) in done for r in records):  # finished: no model to load
    return Stats(skipped=len(records))
  from pinchjax.checkpoints import load  # pylint: disable=import-outside-toplevel (loading's why)
  # An unset template leaves gin's `load_generator.template` (or the family's) in force.
  generator = loading.load_generator(
      checkpoint, **({"template": template} if template else {}),
      **({"partitioner": load.default_partitioner(checkpoint, jax.local_devices())}
         if count > 1 else {}))
  stats = write_generations(generator, records, out, run, decode_config, batch_size)
  logging.info("%s: wrote %d, skipped %d already written, %.1f new tokens/s", out,
               stats.written, stats.skipped, stats.tokens_per_s)
  return stats
