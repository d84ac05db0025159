"""Base-model diagnostics: a pretrained base knows facts and links languages; a random one not."""
import os

import numpy as np
import pytest

from pinchjax import cli
from pinchjax.data import vocab as vocab_lib
from pinchjax.data.toyworld import facts, sentences
from pinchjax.model.transformer import init_model
from pinchjax.study import diagnostics, grid
from pinchjax.checkpoints import load

BASE = os.path.join(cli.REPO_ROOT, "toy_base")


def test_cloze_splits_at_the_answer_in_every_word_order():
  fact = facts.make("next", ("monday",))
  assert sentences.cloze(fact, "en") == ("after monday comes", "tuesday")
  for lang in ("fi", "zh", "ar", "hi", "sw"):
    before, answer = sentences.cloze(fact, lang)
    assert sentences.statement(fact, lang).startswith(f"{before} {answer}")


def test_similarity_separates_parallel_from_shuffled():
  rng = np.random.default_rng(0)
  shared = rng.normal(size=(50, 16))
  a = shared + 0.3 * rng.normal(size=shared.shape) + 5.0  # an offset per language
  b = shared + 0.3 * rng.normal(size=shared.shape) - 2.0
  s = diagnostics.similarity(a, b)
  assert s["parallel"] > 0.8 and abs(s["shuffled"]) < 0.2 and s["retrieval"] > 0.9
  unrelated = diagnostics.similarity(a, rng.normal(size=a.shape))
  assert unrelated["parallel"] < 0.3 and unrelated["retrieval"] < 0.2


@pytest.fixture(scope="module")
def measured():
  vocab = vocab_lib.get_vocabulary(os.path.join(BASE, "vocab.model"))
  trained, cfg = load.load_model(os.path.join(BASE, "checkpoint"))
  random_init = init_model(cfg, seed=1)
  run = lambda m: diagnostics.toyworld(m, vocab, ["en", "fi"], max_items=96, distractors=4)
  return run(trained), run(random_init)


def test_pretrained_base_knows_facts_a_random_one_does_not(measured):
  trained, random_init = measured
  for lang in ("en", "fi"):
    assert trained["languages"][lang]["cloze"] > random_init["languages"][lang]["cloze"] + 0.03
  assert random_init["languages"]["fi"]["cloze"] < 0.02
  # Forced choice among 5 words: a random model sits near chance (20%), the base above it.
  assert trained["languages"]["fi"]["dictionary"] > random_init["languages"]["fi"]["dictionary"]


def test_parallel_sentences_are_closer_than_shuffled_ones(measured):
  trained, _ = measured
  layers = trained["languages"]["fi"]["similarity"]
  assert len(layers) == 4  # embeddings and 3 blocks
  by_family = trained["languages"]["fi"]["cloze_by_family"]
  assert set(by_family) <= set(facts.RELATIONS) and len(by_family) >= 4
  best = layers[trained["languages"]["fi"]["best_layer"]]
  assert best["parallel"] > best["shuffled"] + 0.05
  assert "similarity" not in trained["languages"]["en"]  # the pivot itself


def test_grid_adds_a_diagnose_step_for_the_base():
  study = grid.Study(name="t", dataset="toy", evalset="toyeval", experiments=["mono"],
                     languages=["en", "fi"], base_checkpoint="toy_base/checkpoint",
                     data={"fn": "f"}, diagnose={"fn": "g", "vocabulary": "v"})
  steps = {s.id: s for s in grid.expand(study).steps}
  step = steps[grid.DIAGNOSE]
  assert step.kind == "diagnose" and step.deps == (grid.DATA,)
  assert step.params["languages"] == ["en", "fi"]
  assert step.params["checkpoint"] == "toy_base/checkpoint"
  no_base = grid.Study(name="t", dataset="toy", evalset="toyeval", experiments=["mono"],
                       languages=["en", "fi"], diagnose={"fn": "g", "vocabulary": "v"})
  assert grid.DIAGNOSE not in {s.id for s in grid.expand(no_base).steps}
