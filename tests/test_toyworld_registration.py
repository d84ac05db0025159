"""The toy world through the data layer: the paper's mixtures by name, a pretraining task."""
import os

import gin
import numpy as np
import pytest
import seqio

from toyworld_counts import split_sizes
from pinchjax import cli as pinchjax_cli
from pinchjax import languages
from pinchjax.data import pipeline
from pinchjax.data.toyworld import build, registration


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("toyworld"))
  build.build_toyworld(out, seed=0, sentences_per_language=650, list_items=100)
  vocab = seqio.ByteVocabulary()
  names = registration.register_toyworld(out, vocab, replace=True)
  return out, names, vocab


def test_paper_mixtures_exist_by_name(registered):
  _, names, _ = registered
  expected = (["toy_pinch_p0", "toy_pinch_p1", "toy_pinch_p10", "toy_pinch_p100",
               "toy_pinch_seen_p50", "toy_k1_o0", "toy_k6_o2", "toy_pretrain"]
              + [f"toy_mono_{l}" for l in languages.PAPER_LANGUAGES]
              + [f"toyeval_{l}" for l in languages.PAPER_LANGUAGES])
  for name in expected:
    assert name in names
    assert seqio.get_mixture_or_task(name) is not None
  mixtures = [n for n in names if "." not in n]  # "{mixture}.{lang}" are slice tasks
  assert sum(n.startswith("toy_pair_") for n in mixtures) == 6


def test_eval_task_serves_the_instructions(registered):
  out, _, _ = registered
  task = seqio.get_mixture_or_task("toyeval_fi")
  examples = list(task.get_dataset(None, split="test", shuffle=False).as_numpy_iterator())
  with open(build.instruction_path(out, "eval", "fi"), encoding="utf-8") as f:
    assert len(examples) == sum(1 for _ in f) > 0
  assert examples[0]["lang"] == b"fi"


def test_pretraining_task_is_plain_text_with_loss_everywhere(registered):
  out, _, _ = registered
  with open(build.corpus_path(out), encoding="utf-8") as f:
    first = f.readline().rstrip("\n")
  task = seqio.get_mixture_or_task(registration.PRETRAIN_TASK)
  ex = next(task.get_dataset(None, split="train", shuffle=False).as_numpy_iterator())
  assert len(ex["inputs"]) == 0
  assert seqio.ByteVocabulary().decode(ex["targets"][:-1].tolist()) == first
  batch = next(pipeline.get_dataset(registration.PRETRAIN_TASK, "train", 64, 4, seed=0))
  real = batch["decoder_segment_ids"] > 0
  assert np.array_equal(batch["decoder_loss_weights"] > 0, real)


def test_reregistering_needs_replace(registered):
  out, _, vocab = registered
  corpus = build.corpus_path(out)
  assert registration.register_pretraining(corpus, vocab) == "toy_pretrain"
  os.utime(corpus, ns=(1, 1))  # a changed corpus is another registration
  with pytest.raises(ValueError, match="replace=True"):
    registration.register_pretraining(corpus, vocab)
  registration.register_pretraining(corpus, vocab, replace=True)


def test_cli_writes_a_world(tmp_path, capsys):
  try:
    assert pinchjax_cli.main(["data", "toyworld", "--out", str(tmp_path),
                              "--sentences-per-language", "650", "--languages", "en,fi,zh",
                              "--list-items", "20"]) == 0
  finally:
    gin.clear_config()  # the flags are build_toyworld bindings: not for the next tests
  per_language = sum(split_sizes(list_items=20)["eval"].values())
  assert f'"per_language": {per_language}' in capsys.readouterr().out
  assert sorted(os.listdir(tmp_path / "toy" / "train")) == ["en.jsonl", "fi.jsonl", "zh.jsonl"]
