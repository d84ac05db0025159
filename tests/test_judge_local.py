"""The local judge on a tiny random checkpoint: batched verdict probabilities; with a judge
that prefers one answer, swapping the answers flips the verdict."""
import re

import gin
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
from flax import nnx

from pinchjax.infer import decode
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.judge import judge_pairs, prompts, score
from pinchjax.judge import verdicts as V
from pinchjax.judge.backends import base
from pinchjax.judge.backends.local import LocalBackend, local_backend
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.checkpoints import checkpointer as checkpoint, metadata


def tiny_model(vocab):
  return Transformer(ModelConfig(vocab_size=vocab.vocab_size), rngs=nnx.Rngs(3))


@pytest.fixture(scope="module")
def generator():
  vocab = seqio.ByteVocabulary()
  return JaxGenerator(tiny_model(vocab), vocab, "toy")


def game(a, b, key):
  rec = {"id": key, "lang": "en"}
  return base.Game(key, "en", "Name a colour.", a, b, rec, rec)


def collect(backend, games, prompt_id="sxs-direct-v1"):
  answers = {}
  backend.judge(games, prompts.get(prompt_id), lambda i, a: answers.__setitem__(i, a))
  return [answers[i] for i in range(len(games))]


def test_both_orders_batched_match_other_batchings(generator, monkeypatch):
  calls = []
  real = decode.score_next_token_logprobs

  def counted(model, ps, ids, **kw):
    calls.append(len(ps))
    return real(model, ps, ids, **kw)

  monkeypatch.setattr(decode, "score_next_token_logprobs", counted)
  pairs = [("Red.", "Blue is a colour."), ("Green", "I do not know."), ("Yellow!", "Red.")]
  games = [g for i, (x, y) in enumerate(pairs)
           for g in (game(x, y, f"{i}a"), game(y, x, f"{i}b"))]
  batched = collect(LocalBackend(generator, "tiny", batch_size=4), games)
  assert calls == [4, 2]  # six games, batches of four
  pairs_only = collect(LocalBackend(generator, "tiny", batch_size=2), games)
  assert calls == [4, 2, 2, 2, 2]
  for b, s in zip(batched, pairs_only):
    assert set(b.probs) == {"A", "B", "tie"}
    assert sum(b.probs.values()) == pytest.approx(1.0)
    for k in b.probs:  # a row's probabilities do not depend on its batch or padding
      assert b.probs[k] == pytest.approx(s.probs[k], abs=1e-5)
    assert b.verdict == max(b.probs, key=b.probs.get)


COLOURS = ("red", "blue", "green", "yellow")


def colour_judge(vocab):
  """A stand-in for the judge model's forward pass with a known preference: it reads the two
  answers out of the decoded prompt by their headings and puts its belief on the letter of
  the answer naming more colours (C, a tie, when they name as many)."""
  def forward(model, prompts_, ids, **kw):
    del model, kw
    rows = []
    for tokens in prompts_:
      text = vocab.decode(list(tokens))
      q = [sum(c in re.search(rf"### Answer {s}\n(.*?)\n### End of answer {s}", text,
                              re.S).group(1).lower() for c in COLOURS) for s in "AB"]
      logits = np.array([q[0], q[1], max(q) + 1 if q[0] == q[1] else min(q) - 1], np.float64)
      rows.append(logits - np.log(np.exp(logits).sum()))
    assert len(ids) == 3
    return np.array(rows)
  return forward


def test_swapping_the_answers_flips_the_verdict(generator, monkeypatch):
  monkeypatch.setattr(decode, "score_next_token_logprobs", colour_judge(generator.vocab))
  backend = LocalBackend(generator, "tiny", batch_size=4)
  pairs = [("Red or blue.", "Blue."), ("I do not know.", "Green!"), ("Red.", "Yellow.")]
  got = collect(backend, [g for i, (x, y) in enumerate(pairs)
                          for g in (game(x, y, f"{i}a"), game(y, x, f"{i}b"))])
  want = [(V.A, V.B), (V.B, V.A), (V.TIE, V.TIE)]  # x better, y better, as good
  for (first, swapped), (v, flipped) in zip(zip(got[::2], got[1::2]), want):
    assert (first.verdict, swapped.verdict) == (v, flipped)
    # The same answer wins with the same probability from either slot.
    assert first.probs[V.A] == pytest.approx(swapped.probs[V.B])
    assert first.probs[V.B] == pytest.approx(swapped.probs[V.A])
    assert first.probs[V.TIE] == pytest.approx(swapped.probs[V.TIE])
  assert got[0].probs[V.A] == pytest.approx(np.e ** 2 / (np.e ** 2 + np.e + 1))


def test_a_better_candidate_wins_both_orders_through_judge_pairs(generator, monkeypatch):
  monkeypatch.setattr(decode, "score_next_token_logprobs", colour_judge(generator.vocab))
  cands = [{"id": str(i), "lang": "en", "instruction": "Name a colour.", "response": r,
            "run": "cand", "decode_config": {}}
           for i, r in enumerate(["Red.", "No idea.", "Blue."])]
  bases = [dict(c, response=r, run="base") for c, r in zip(cands, ["Hm.", "Green.", "Red."])]
  vs = judge_pairs(cands, bases, LocalBackend(generator, "tiny"), prompt="sxs-direct-v1",
                   progress=False)
  assert [(v.id, v.candidate_slot, v.verdict) for v in vs] == [
      ("0", "A", V.A), ("0", "B", V.B),  # the candidate wins from both slots
      ("1", "A", V.B), ("1", "B", V.A),  # the baseline wins from both slots
      ("2", "A", V.TIE), ("2", "B", V.TIE)]
  s = score(vs, n_boot=20)["per_language"]["en"]
  assert (s["wins"], s["ties"], s["losses"], s["score"]) == (1, 1, 1, 50.0)


def test_prompt_ends_with_answer_prefix_and_verdict_letters_are_next_tokens(generator):
  backend = LocalBackend(generator, "tiny")
  p = prompts.get("sxs-direct-v1")
  tokens = backend.prompt_tokens(game("x", "y", "k"), p)
  assert generator.vocab.decode(tokens[-2:]) == "[["
  with pytest.raises(ValueError, match="answer prefix"):
    collect(backend, [game("x", "y", "k")], prompt_id="sxs-v1")


def test_local_judge_through_judge_pairs_is_cached(generator, tmp_path):
  cands = [{"id": str(i), "lang": "en", "instruction": f"Say {i}.", "response": f"{i} it is.",
            "run": "cand", "decode_config": {}} for i in range(3)]
  bases = [dict(r, response=f"No {r['id']}.", run="base") for r in cands]
  db = str(tmp_path / "judge.db")
  backend = LocalBackend(generator, "tiny", batch_size=4)  # shapes compiled above
  vs = judge_pairs(cands, bases, backend, prompt="sxs-direct-v1", cache=db, progress=False)
  assert backend.stats()["batches"] == 2  # six games: a batch of four, one of two
  assert all(v.probs is not None and v.judge_id == "local:tiny" for v in vs)
  s = score(vs, n_boot=50)
  assert s["per_language"]["en"]["scored"] == 3
  again = LocalBackend(generator, "tiny", batch_size=4)
  vs2 = judge_pairs(cands, bases, again, prompt="sxs-direct-v1", cache=db, progress=False)
  assert again.stats()["batches"] == 0 and [v.probs for v in vs2] == [v.probs for v in vs]
  np.testing.assert_allclose([v.probs["A"] for v in vs2], [v.probs["A"] for v in vs])


def test_local_judge_file_parses():
  from pinchjax.judge import cli as judge_cli
  gin.clear_config()
  try:
    judge_cli._judge_file("local")
    assert gin.query_parameter("judge_run.prompt") == "sxs-direct-v1"
    assert gin.query_parameter("local_backend.batch_size") == 16
  finally:
    gin.clear_config()


def test_local_judge_from_a_saved_checkpoint_on_a_mesh(generator, tmp_path):
  """A pinchjax run's checkpoint, loaded on the default 8-device mesh, judges as the
  in-memory model does (rows sharded over the data axis, padded to a multiple of 8)."""
  vocab = generator.vocab
  model = tiny_model(vocab)
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  ckpt.save({"step": jnp.asarray(1, jnp.int32), "opt_state": {},
             "params": nnx.to_pure_dict(nnx.state(model, nnx.Param))}, {"batches": 1})
  ckpt.close()
  metadata.save_model_config(str(tmp_path), model.cfg)
  gin.clear_config()
  try:
    gin.bind_parameter("load_generator.vocabulary", vocab)  # a run does not copy its vocab
    loaded = local_backend(checkpoint=str(tmp_path), template="toy", batch_size=2)
  finally:
    gin.clear_config()
  assert loaded.judge_id == f"local:{tmp_path}"
  assert loaded.generator.sharding is not None
  games = [game("Red.", "Blue is a colour.", "a"), game("Blue is a colour.", "Red.", "b")]
  want = collect(LocalBackend(generator, "tiny", batch_size=2), games)
  got = collect(loaded, games)
  for w, g in zip(want, got):
    assert g.verdict == w.verdict
    for k in w.probs:
      assert g.probs[k] == pytest.approx(w.probs[k], abs=1e-5)
