"""Writes a toy world to disk in the data layer's layout (pinchjax.data.registry).

  OUT/toy/train/{lang}.jsonl      instruction tuning set, canonical records, parallel ids
  OUT/toyeval/test/{lang}.jsonl   evaluation set (reference responses included), parallel ids
  OUT/toy_corpus/train.txt        pretraining text, one document a line, no instruction format
  OUT/lexicon.json                every language's words and typology, for inspection
  OUT/manifest.json               the build's arguments and counts

`pinchjax.data.toyworld.registration.register_toyworld(OUT, vocabulary)` then registers the
paper's mixtures (`toy_pinch_p10`, `toy_mono_fi`, ...), the eval tasks (`toyeval_fi`) and
the pretraining task (`toy_pretrain`).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import gin

from pinchjax import atomic_file
from pinchjax import languages as langs_lib
from pinchjax.data import canonical
from pinchjax.data.toyworld import corpus, lexicon, tasks

DATASET = "toy"
EVALSET = "toyeval"
CORPUS = "toy_corpus"
TEMPLATE = "toy"  # the toy model's chat template (pinchjax.data.chat)
SPLIT_DIRS = {"train": (DATASET, "train"), "eval": (EVALSET, "test")}


def corpus_path(out_dir: str) -> str:
  return os.path.join(out_dir, CORPUS, "train.txt")


def instruction_path(out_dir: str, split: str, lang: str) -> str:
  """The canonical JSONL file of a split ("train" or "eval") in one language."""
  dataset, split_dir = SPLIT_DIRS[split]
  return os.path.join(out_dir, dataset, split_dir, f"{lang}.jsonl")


@gin.configurable
def build_toyworld(out_dir: str, seed: int = 0, *, sentences_per_language: int = 20_000,
                   parallel_fraction: float = 0.1, question_fraction: float = 0.1,
                   max_sentences: int = 4, eval_fraction: float = 0.3,
                   list_items: int = 400, languages: Sequence[str] | str = "paper",
                   language_weights: Mapping[str, float] | None = None,
                   parallel_kinds: Mapping[str, float] | None = None,
                   digit_fraction: float = 0.0) -> dict[str, Any]:
  """Generates and writes a toy world; returns the manifest (also written as manifest.json).

  Args:
    out_dir: the data directory (created if missing).
    seed: fixes the corpus and the train/eval split; the lexicon never changes.
    sentences_per_language: monolingual pretraining lines per language (see corpus.generate).
    parallel_fraction: share of parallel / code-switched pretraining lines.
    question_fraction: share of each language's pretraining sentences that are questions.
    max_sentences: the most statements in one pretraining document (line).
    eval_fraction: share of each task family's items that go to evaluation.
    list_items: items drawn for each list family (count, reverse), before the split.
    languages: toy-world languages (a set name such as "paper" or "seen", or codes).
    language_weights: relative amounts of pretraining text per language (default equal).
    parallel_kinds: weights of dictionary, parallel and code-switched lines (default equal).
    digit_fraction: share of pretraining statements with their numbers in digits (anchors
      every language shares).
  """
  langs = langs_lib.resolve(languages)
  lines = list(corpus.generate(seed, langs, sentences_per_language, parallel_fraction,
                               question_fraction, max_sentences, language_weights,
                               parallel_kinds, digit_fraction))
  path = corpus_path(out_dir)
  _write_text(path, (line.text for line in lines))
  items = tasks.split_items(seed, eval_fraction, list_items)
  counts: dict[str, dict[str, int]] = {}
  for split, split_items in items.items():
    counts[split] = {lang: canonical.write_jsonl(instruction_path(out_dir, split, lang),
                                                 tasks.records(split_items, lang))
                     for lang in langs}
  manifest = {
      "arguments": {"seed": seed, "sentences_per_language": sentences_per_language,
                    "parallel_fraction": parallel_fraction,
                    "question_fraction": question_fraction, "max_sentences": max_sentences,
                    "eval_fraction": eval_fraction,
                    "list_items": list_items, "languages": list(langs),
                    "language_weights": dict(language_weights or {}),
                    "parallel_kinds": dict(parallel_kinds or {}),
                    "digit_fraction": digit_fraction},
      "names": {"dataset": DATASET, "evalset": EVALSET, "corpus": CORPUS},
      "corpus": _corpus_stats(lines),
      "items": {split: {"per_language": len(split_items),
                        "by_family": dict(collections.Counter(f.relation for f in split_items))}
                for split, split_items in items.items()},
      "records": counts,
  }
  _write_text(os.path.join(out_dir, "lexicon.json"),
              [json.dumps(_lexicon_json(langs), ensure_ascii=False, indent=1)])
  _write_text(os.path.join(out_dir, "manifest.json"), [json.dumps(manifest, indent=1)])
  return manifest


def _corpus_stats(lines: Sequence[corpus.Line]) -> dict[str, Any]:
  sentences: collections.Counter[str] = collections.Counter()
  for line in lines:
    if line.kind in corpus.MONOLINGUAL_KINDS:
      sentences[line.langs[0]] += line.sentences
  return {"lines": len(lines), "words": sum(len(l.text.split()) for l in lines),
          "by_kind": dict(collections.Counter(l.kind for l in lines)),
          "sentences_by_language": dict(sentences)}


def _lexicon_json(langs: Sequence[str]) -> dict[str, Any]:
  return {lang: {"typology": dataclasses.asdict(lexicon.get(lang).typology),
                 "function": dict(lexicon.get(lang).function),
                 "content": dict(lexicon.get(lang).content)} for lang in langs}


def _write_text(path: str, lines) -> None:
  atomic_file.write(path, (line + "\n" for line in lines))
