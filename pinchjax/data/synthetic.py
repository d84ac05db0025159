"""A small random parallel set in the data layout, for tests and benchmarks (not a toy world:
the text is random words with no structure to learn; see pinchjax/data/toyworld for that)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from pinchjax.data import canonical, registry


def parallel_set(n: int, langs: Sequence[str], seed: int = 0, words: int = 40,
                 prompt_words: tuple[int, int] = (3, 12), response_words: tuple[int, int] = (2, 24)
                 ) -> dict[str, list[canonical.Record]]:
  """n examples ("ex00000"...) in each language; language L's words are L + two letters
  (letters only, so a sentencepiece model can learn whole words)."""
  rng = np.random.default_rng(seed)
  lengths = [(int(rng.integers(*prompt_words)), int(rng.integers(*response_words)))
             for _ in range(n)]
  out = {}
  for lang in langs:
    vocab = [f"{lang}{chr(97 + k // 26)}{chr(97 + k % 26)}" for k in range(words)]
    out[lang] = [
        canonical.Record(f"ex{i:05d}", lang, " ".join(rng.choice(vocab, size=p)),
                         " ".join(rng.choice(vocab, size=r)), "synthetic")
        for i, (p, r) in enumerate(lengths)]
  return out


def write_parallel_set(data_dir: str, name: str, n: int, langs: Sequence[str], seed: int = 0,
                       split: str = "train") -> dict[str, list[canonical.Record]]:
  """Writes DATA_DIR/{name}/{split}/{lang}.jsonl for each language; returns the records."""
  sets = parallel_set(n, langs, seed)
  for lang, records in sets.items():
    canonical.write_jsonl(registry.layout_path(data_dir, name, split, lang), records)
  return sets
