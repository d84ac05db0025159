"""A sentencepiece vocabulary for a built toy world.

It must be trained on the pretraining corpus *and* the instruction set: question words and
question marks occur only in instructions, the "=" of parallel lines only in the corpus, and
a character the vocabulary never saw would become UNK on one side.
"""
from __future__ import annotations

import os
from typing import Iterator

from pinchjax.data import canonical, chat, vocab
from pinchjax.data.toyworld import build


def texts(out_dir: str) -> Iterator[str]:
  """Every corpus line, then every train instruction and response, of the world in out_dir."""
  with open(build.corpus_path(out_dir), encoding="utf-8") as f:
    yield from (line.rstrip("\n") for line in f)
  train_dir = os.path.dirname(build.instruction_path(out_dir, "train", "en"))
  for name in sorted(os.listdir(train_dir)):
    for r in canonical.read_jsonl(os.path.join(train_dir, name), lang=name[:-len(".jsonl")]):
      yield r.instruction
      yield r.response


def train_vocabulary(out_dir: str, vocab_size: int, model_prefix: str | None = None,
                     template: str = build.TEMPLATE) -> str:
  """Trains the world's sentencepiece model (default OUT/spm.model); returns its path.

  The chat template's markers stay single tokens; a small world gives a smaller vocabulary
  than `vocab_size` rather than failing (see pinchjax.data.vocab.train_sentencepiece).
  """
  prefix = model_prefix or os.path.join(out_dir, "spm")
  return vocab.train_sentencepiece(texts(out_dir), prefix, vocab_size,
                                   user_defined_symbols=chat.markers([template]))
