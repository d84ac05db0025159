"""The shipped toy base model: small, loadable, its own vocabulary, and untuned."""
import json
import os

import jax
import sentencepiece as spm
from flax import nnx

from pinchjax import cli
from pinchjax.checkpoints import load

BASE = os.path.join(cli.REPO_ROOT, "toy_base")


def _facts():
  with open(os.path.join(BASE, "facts.json")) as f:
    return json.load(f)


def test_size_and_parameters():
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(BASE) for f in fs)
  assert size <= 25 * 2**20
  model, cfg = load.load_model(os.path.join(BASE, "checkpoint"))
  params = jax.tree.leaves(nnx.to_pure_dict(nnx.state(model)))
  assert sum(p.size for p in params) == _facts()["parameters"]
  assert cfg.family == "toy"


def test_vocabulary_keeps_chat_markers_whole():
  sp = spm.SentencePieceProcessor(model_file=os.path.join(BASE, "vocab.model"))
  assert sp.encode("<user>", out_type=str)[-1] == "<user>"
  assert sp.encode("<model>", out_type=str)[-1] == "<model>"
  assert sp.eos_id() == 1 and sp.pad_id() == 0


def test_base_follows_no_instructions():
  facts = _facts()
  assert len(facts["pre_tuning_checker_accuracy"]) == 12
  assert facts["pre_tuning_checker_accuracy_mean"] <= 0.05
