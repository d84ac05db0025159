"""Packed examples/s and tokens/s of pinchjax's mixture stream vs seqio's own, one run.

A random parallel set of `--examples` ids in the 12 paper languages is written in the data
layout, a sentencepiece vocabulary is trained on it, and the dataset is registered. Both
pipelines then stream the same mixture (`--mixture`, default the P=10 pinch), packed to
`--length` tokens, `--batch` rows a batch:
  pinchjax  pinchjax.data.pipeline.get_dataset (tokenized once, numpy packing, resumable)
  seqio     seqio.get_dataset with DecoderFeatureConverter(pack=True), the TF pipeline
Each is warmed up with one batch (pinchjax tokenizes every task then: `setup_s`), then timed
over `--batches` batches. Examples = packed segments, tokens = non-padding positions.
Prints one JSON object; `ratio` = pinchjax / seqio.

  .venv/bin/python bench/data_throughput.py [--examples 4640] [--batches 200]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Callable, Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import seqio

import protocol  # pylint: disable=g-import-not-at-top

from pinchjax import languages
from pinchjax.data import chat, pipeline, registry, synthetic, vocab


def measure(make: Callable[[], Iterator[dict[str, np.ndarray]]], n: int) -> dict[str, float]:
  """Times building the stream plus one batch (setup), then `n` more batches."""
  start = time.perf_counter()
  batches = make()
  next(batches)
  setup = time.perf_counter() - start
  examples = tokens = 0
  start = time.perf_counter()
  for _ in range(n):
    seg = next(batches)["decoder_segment_ids"]
    examples += int(seg.max(axis=1).sum())
    tokens += int((seg > 0).sum())
  secs = time.perf_counter() - start
  return {"setup_s": round(setup, 3), "seconds": round(secs, 3),
          "examples_per_s": round(examples / secs, 1), "tokens_per_s": round(tokens / secs, 1),
          "fill": round(tokens / (n * seg.size), 4)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--examples", type=int, default=4640)
  parser.add_argument("--mixture", default="bench_pinch_p10")
  parser.add_argument("--length", type=int, default=512)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--batches", type=int, default=200)
  parser.add_argument("--vocab-size", type=int, default=1000)
  args = parser.parse_args()
  host = protocol.Host()

  with tempfile.TemporaryDirectory() as root:
    sets = synthetic.write_parallel_set(root, "bench", args.examples, languages.PAPER_LANGUAGES)
    texts = [t for recs in sets.values() for r in recs[:500] for t in (r.instruction, r.response)]
    model = vocab.train_sentencepiece(texts, os.path.join(root, "spm"), args.vocab_size,
                                      user_defined_symbols=chat.markers(["toy"]))
    registry.register_dataset("bench", root, vocab.get_vocabulary(model), "toy")

    def ours():
      return pipeline.get_dataset(args.mixture, "train", args.length, args.batch, seed=0)

    def theirs():
      half = args.length // 2
      return seqio.get_dataset(
          args.mixture, {"inputs": half, "targets": half},
          seqio.DecoderFeatureConverter(pack=True, loss_on_targets_only=True), "train",
          shuffle=True, num_epochs=None, seed=0, batch_size=args.batch).as_numpy_iterator()

    result = {"pinchjax": measure(ours, args.batches), "seqio": measure(theirs, args.batches)}

  result["ratio"] = {k: round(result["pinchjax"][k] / result["seqio"][k], 2)
                     for k in ("examples_per_s", "tokens_per_s")}
  result["config"] = {**vars(args), "machine": platform.machine(),
                      "numpy": np.__version__, "seqio": seqio.__version__}
  result["host"] = host.report()
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
