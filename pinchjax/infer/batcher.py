"""Gathers requests that arrive close together into one decoder batch.

HTTP handler threads submit requests and wait on futures; one worker thread takes the first
waiting request, waits up to `max_wait_s` for more (up to `max_batch`), and runs them through
the generator as one batch. A failing batch fails only its own futures.
"""
from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from typing import Sequence

from pinchjax.infer.generator import Completion, Generator, Request


class Batcher:

  def __init__(self, generator: Generator, max_batch: int = 32, max_wait_s: float = 0.01):
    if max_batch < 1:
      raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    self._generator = generator
    self._max_batch = max_batch
    self._max_wait_s = max_wait_s
    self._queue: queue.Queue[tuple[Request, concurrent.futures.Future]] = queue.Queue()
    self._worker = threading.Thread(target=self._run, name="pinchjax-batcher", daemon=True)
    self._worker.start()

  def submit(self, requests: Sequence[Request]) -> list[concurrent.futures.Future]:
    futures = []
    for request in requests:
      future: concurrent.futures.Future[Completion] = concurrent.futures.Future()
      self._queue.put((request, future))
      futures.append(future)
    return futures

  def generate(self, requests: Sequence[Request]) -> list[Completion]:
    return [f.result() for f in self.submit(requests)]

  def _take_batch(self) -> list[tuple[Request, concurrent.futures.Future]]:
    batch = [self._queue.get()]
    deadline = time.monotonic() + self._max_wait_s
    while len(batch) < self._max_batch:
      try:
        batch.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0.0)))
      except queue.Empty:
        break
    return batch

  def _run(self) -> None:
    while True:
      batch = self._take_batch()
      try:
        completions = self._generator.generate([r for r, _ in batch])
      except Exception as e:  # pylint: disable=broad-except
        for _, future in batch:
          future.set_exception(e)
        continue
      for (_, future), completion in zip(batch, completions):
        future.set_result(completion)
