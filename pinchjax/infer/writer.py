"""Writes generations JSONL for a set of instructions, resumably.

Each line is a generation record (pinchjax.data.generations).
Instructions are sorted by prompt length (longest first) into batches so a batch wastes little
padding. After each batch its lines are appended with one `write` and fsync'd, so a killed run
leaves whole lines; a torn last line (a kill inside the write) is dropped on the next run,
which then skips every (lang, id) already written. A sampled response's seed comes from the
run's seed and the example id, so a resumed run writes what an uninterrupted one would have.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import zlib
from typing import Any, Iterable, Mapping

import gin

from pinchjax.data import generations
from pinchjax.infer.generator import Generator, Request
from pinchjax.infer.sampling import SamplingParams, make_sampler


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DecodeConfig:
  """How responses are generated; recorded with every line."""
  max_new_tokens: int = 256
  sampler: str = "greedy"  # greedy | temperature | top_k | top_p
  temperature: float = 1.0
  top_k: int = 40
  top_p: float = 0.95
  seed: int = 0

  def sampling(self, example_id: str) -> SamplingParams:
    sampler = make_sampler(self.sampler, self.temperature, self.top_k, self.top_p)
    return sampler.params(seed=(self.seed + zlib.crc32(example_id.encode())) % (1 << 32))

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Stats:
  written: int = 0
  skipped: int = 0  # already in the file
  new_tokens: int = 0
  seconds: float = 0.0

  @property
  def tokens_per_s(self) -> float:
    return self.new_tokens / self.seconds if self.seconds else 0.0


def existing_keys(path: str, run: str, decode_config: DecodeConfig) -> set[tuple[str, str]]:
  """(lang, id) of the lines already in `path`; truncates a torn last line.

  A file written by another run or decode config is an error: one file is one run.
  """
  if not os.path.exists(path):
    return set()
  keys = set()
  good_bytes = 0
  with open(path, "rb") as f:
    for number, line in enumerate(f, 1):
      if not line.endswith(b"\n"):
        break  # torn by a kill: dropped below, regenerated this run
      try:
        row = generations.check(json.loads(line), f"{path}:{number}")
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{number}: not a generations line ({e.msg})") from None
      if row.get("run") != run or row.get("decode_config") != decode_config.to_json():
        raise ValueError(f"{path}:{number}: written by run {row.get('run')!r} with "
                         f"{row.get('decode_config')}; this run is {run!r} with "
                         f"{decode_config.to_json()}. Use another output file.")
      keys.add((row["lang"], row["id"]))
      good_bytes += len(line)
  if good_bytes < os.path.getsize(path):
    logging.warning("%s: dropping a torn last line left by an interrupted run", path)
    with open(path, "rb+") as f:
      f.truncate(good_bytes)
  return keys


def write_generations(generator: Generator, records: Iterable[Mapping[str, str]],
                      out_path: str, run: str, decode_config: DecodeConfig,
                      batch_size: int = 32) -> Stats:
  """Generates a response for each record ({id, lang, instruction}) missing from `out_path`.

  `generator` must have `instruction_prompt(instruction)` (the chat template) besides the
  `Generator` interface.
  """
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  done = existing_keys(out_path, run, decode_config)
  records = list(records)
  todo = [r for r in records if (r["lang"], r["id"]) not in done]
  stats = Stats(skipped=len(records) - len(todo))
  prompts = {id(r): generator.instruction_prompt(r["instruction"]) for r in todo}
  lengths = {id(r): generator.count_tokens(prompts[id(r)]) for r in todo}
  todo.sort(key=lambda r: -lengths[id(r)])
  config = decode_config.to_json()
  start = time.monotonic()
  fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
  try:
    for i in range(0, len(todo), batch_size):
      batch = todo[i:i + batch_size]
      requests = [Request(prompts[id(r)], decode_config.max_new_tokens,
                          decode_config.sampling(r["id"])) for r in batch]
      completions = generator.generate(requests)
      lines = [generations.line(generations.make(r, c.text, run, config, c.finish_reason,
                                                 c.completion_tokens))
               for r, c in zip(batch, completions)]
      _write_all(fd, "".join(lines).encode("utf-8"))
      os.fsync(fd)
      stats.written += len(batch)
      stats.new_tokens += sum(c.completion_tokens for c in completions)
      stats.seconds = time.monotonic() - start
      remaining = (len(todo) - stats.written) * stats.seconds / stats.written
      logging.info("%s: %d/%d written (%d skipped), %.1f new tokens/s, ETA %.0fs", out_path,
                   stats.written, len(todo), stats.skipped, stats.tokens_per_s, remaining)
  finally:
    os.close(fd)
  return stats


def _write_all(fd: int, data: bytes) -> None:
  view = memoryview(data)
  while view:
    view = view[os.write(fd, view):]
