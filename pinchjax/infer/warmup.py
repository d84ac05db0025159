"""Decodes once in every shape a server's requests can take, so that no request waits on a
compile (a new shape of `decode.generate` compiles while the whole batch waits).

`decode.generate` compiles one program per rows bucket (the batch), prompt bucket (the
longest prompt) and step bucket (the largest `max_new_tokens`), greedy or sampled, streamed or
not. A request's prompt has 1..max_context-1 tokens and asks for `max_tokens` new tokens, or
min(default, room left); `shapes` lists the buckets that these can reach. Request stop
strings (which change the stop-sequence layout) and other `max_tokens` values than those
given still compile on first use.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

from pinchjax.infer.decode import MIN_BUCKET, bucket
from pinchjax.infer.generator import Generator, Request
from pinchjax.infer.sampling import SamplingParams


@dataclasses.dataclass(frozen=True)
class Shape:
  rows: int  # requests decoded together
  prompt: tuple[int, int]  # a prompt length in [lo, hi] (start token included) ...
  steps: int  # ... and max_new_tokens: all rows alike


def _buckets(lo: int, hi: int, minimum: int = 1) -> list[int]:
  """The buckets of the integers in [lo, hi]: the powers of two from lo's to hi's."""
  out, b = [], bucket(lo, minimum)
  while b <= bucket(hi, minimum):
    out.append(b)
    b *= 2
  return out


def shapes(max_context: int, max_batch: int, max_new_tokens: Sequence[int]) -> list[Shape]:
  """The shapes of `decode.generate` that batches of up to `max_batch` requests reach, each
  asking for one of `max_new_tokens` (capped to the room its prompt leaves)."""
  rows = sorted({min(bucket(n, 1), max_batch) for n in range(1, max_batch + 1)})
  out = []
  for n in rows:
    for p in _buckets(1, max_context - 1, MIN_BUCKET):
      lo, hi = (1 if p == MIN_BUCKET else p // 2 + 1), min(p, max_context - 1)
      # The largest limit comes from the batch's shortest prompt: any length up to `hi`
      # when rows mix, the bucket's own lengths for one row.
      shortest = lo if n == 1 else 1
      steps = set()
      for t in max_new_tokens:
        steps.update(_buckets(min(t, max_context - hi), min(t, max_context - shortest)))
      out += [Shape(n, (lo, hi), s) for s in sorted(steps)]
  return out


def prompt_of_length(generator: Generator, lo: int, hi: int) -> str:
  """A prompt that encodes to between `lo` and `hi` tokens."""
  text = lambda k: " ".join(["x"] * k)
  k = 1
  while generator.count_tokens(text(k)) <= hi:
    k *= 2
  low, high = 0, k  # count(low) <= hi < count(high)
  while high - low > 1:
    mid = (low + high) // 2
    low, high = (mid, high) if generator.count_tokens(text(mid)) <= hi else (low, mid)
  if generator.count_tokens(text(low)) < lo:
    raise ValueError(f"no prompt of 'x' words encodes to {lo}..{hi} tokens")
  return text(low)


def warm_up(generator: Generator, max_batch: int, max_new_tokens: Sequence[int]) -> int:
  """Decodes every shape of `shapes` greedy and sampled, streamed and not; logs progress.
  Returns the number of decodes."""
  todo = shapes(generator.max_context, max_batch, max_new_tokens)
  prompts = {s.prompt: prompt_of_length(generator, *s.prompt) for s in todo}
  variants = [(sampling, stream) for sampling in (SamplingParams(),
                                                  SamplingParams(temperature=1.0, seed=0))
              for stream in (False, True)]
  total, done, start = len(todo) * len(variants), 0, time.monotonic()
  logging.info("warm-up: decoding %d shapes (up to %d rows, %d tokens of context)", total,
               max_batch, generator.max_context)
  for shape in todo:
    for sampling, stream in variants:
      request = Request(prompts[shape.prompt], shape.steps, sampling,
                        on_text=(lambda piece: None) if stream else None)
      generator.generate([request] * shape.rows)
      done += 1
      logging.info("warm-up %d/%d: %d rows, prompt %d-%d tokens, %d new, %s%s (%.1f s)", done,
                   total, shape.rows, *shape.prompt, shape.steps,
                   "greedy" if sampling.greedy else "sampled", ", streamed" if stream else "",
                   time.monotonic() - start)
  return total
