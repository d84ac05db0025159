"""The shipped toy base model, run: small, its own vocabulary, it has learned the toy world's
text (true facts are likelier than false ones in every language) and it follows no
instructions (the corpus never answers a question)."""
import json
import os
import random

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sentencepiece as spm
from flax import nnx

from pinchjax import cli, languages
from pinchjax.checkpoints import load
from pinchjax.data.toyworld import checkers, concepts, facts, sentences, tasks
from pinchjax.infer import run
from pinchjax.infer.writer import DecodeConfig

BASE = os.path.join(cli.REPO_ROOT, "toy_base")
CHECKPOINT = os.path.join(BASE, "checkpoint")


@pytest.fixture(scope="module")
def base():
  model, cfg = load.load_model(CHECKPOINT)
  return model, cfg, spm.SentencePieceProcessor(model_file=os.path.join(BASE, "vocab.model"))


def test_size_and_parameters(base):
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(BASE) for f in fs)
  assert size <= 25 * 2**20
  model, cfg, sp = base
  params = jax.tree.leaves(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  assert sum(p.size for p in params) == cfg.num_params()
  assert cfg.family == "toy" and cfg.vocab_size >= sp.vocab_size()  # rows padded


def test_vocabulary_keeps_chat_markers_whole(base):
  sp = base[2]
  assert sp.encode("<user>", out_type=str)[-1] == "<user>"
  assert sp.encode("<model>", out_type=str)[-1] == "<model>"
  assert sp.eos_id() == 1 and sp.pad_id() == 0


def _text_logprob(model, sp, texts: list[str]) -> np.ndarray:
  """log p(text) under the model, each text's tokens after its first (one padded batch)."""
  ids = [sp.encode(t) for t in texts]
  tokens = np.zeros((len(ids), max(map(len, ids))), np.int32)
  for i, row in enumerate(ids):
    tokens[i, :len(row)] = row
  segments = (tokens > 0).astype(np.int32)
  positions = np.broadcast_to(np.arange(tokens.shape[1], dtype=np.int32), tokens.shape)
  logits = nnx.jit(lambda m, *a: m(*a)[0])(model, jnp.asarray(tokens), jnp.asarray(positions),
                                           jnp.asarray(segments))
  logp = jax.nn.log_softmax(np.asarray(logits, np.float32)[:, :-1], axis=-1)
  picked = np.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
  return (picked * segments[:, 1:]).sum(axis=1)


def test_true_statements_are_likelier_than_false_ones_in_every_language(base):
  """The corpus states every day's and month's successor and predecessor in every language: a
  trained base scores "tuesday comes after monday." above the same sentence with another day
  (an untrained one is at chance)."""
  model, _, sp = base
  rng = random.Random(0)
  true, false, langs = [], [], []
  for lang in languages.PAPER_LANGUAGES:
    for fact in facts.enumerate_finite("next") + facts.enumerate_finite("prev"):
      sequence = next(s for s, _ in concepts.SEQUENCES.values() if fact.args[0] in s)
      if sequence is concepts.NUMBERS:
        continue
      wrong = rng.choice([x for x in sequence if x not in fact.answer + fact.args])
      true.append(sentences.statement(fact, lang))
      false.append(sentences.statement(facts.Fact(fact.relation, fact.args, (wrong,)), lang))
      langs.append(lang)
  scores = _text_logprob(model, sp, true + false)
  wins = scores[:len(true)] > scores[len(true):]
  by_lang = {l: np.mean([w for w, x in zip(wins, langs) if x == l]) for l in set(langs)}
  assert np.mean(wins) >= 0.75, by_lang  # the shipped base: 0.91, each language 0.79-1.0
  assert min(by_lang.values()) > 0.6, by_lang


def test_base_follows_no_instructions(base, tmp_path):
  """Greedy answers to eval instructions (two of each task family, all 12 languages) in the
  chat template: the checker accepts almost none. (That the model is trained at all, so this
  is not the accuracy of noise, is the test above.)"""
  items = tasks.split_items(seed=0)["eval"]
  chosen = [f for family in tasks.FAMILIES for f in [f for f in items if f.relation == family][:2]]
  answers = []
  gin.bind_parameter("load_generator.vocabulary", os.path.join(BASE, "vocab.model"))
  try:
    for lang in languages.PAPER_LANGUAGES:  # an input file holds an id once: one per language
      src, out = tmp_path / f"{lang}.input.jsonl", tmp_path / f"{lang}.jsonl"
      src.write_text("".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n"
                             for r in tasks.records(chosen, lang)), encoding="utf-8")
      run.infer(checkpoint=CHECKPOINT, out=str(out), input_path=str(src), run="toy_base",
                batch_size=len(chosen), decode_config=DecodeConfig(max_new_tokens=16))
      answers += [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
  finally:
    gin.clear_config()
  assert len(answers) == len(chosen) * 12
  accuracy = np.mean([checkers.check(a, a["response"]) for a in answers])
  assert accuracy <= 0.05
