"""The local judge on a tiny random checkpoint: swap-consistent, batched verdict probabilities."""
import gin
import jax.numpy as jnp
import numpy as np
import pytest
import seqio
from flax import nnx

from pinchjax.infer import decode
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.judge import judge_pairs, prompts, score
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
  # Swap consistency: P(x wins) with x in slot A and with x in slot B are rows of one
  # forward pass, read by the same code; a row's numbers do not depend on where in the
  # batch it sits, so putting the swapped game first changes nothing.
  for i in range(len(pairs)):
    first, second = batched[2 * i], batched[2 * i + 1]
    x_wins = (first.probs["A"], second.probs["B"])
    assert all(0 < p < 1 for p in x_wins)
    swapped = collect(LocalBackend(generator, "tiny", batch_size=2),
                      [games[2 * i + 1], games[2 * i]])
    assert swapped[1].probs["A"] == pytest.approx(first.probs["A"], abs=1e-5)
    assert swapped[0].probs["B"] == pytest.approx(second.probs["B"], abs=1e-5)


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
