"""Unit tests of the trainer's parts: schedules, loss, optimiser, train step, checkpoints,
metrics."""
import json
import os

import jax
import numpy as np
import jax.numpy as jnp
import optax
import pytest
from flax import nnx
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from pinchjax.checkpoints import checkpointer as checkpoint


from pinchjax.train import flops, loss, optimizer, schedules, step as step_lib


class BigramStandIn(nnx.Module):
  """A stand-in decoder with the model's call signature, for testing the step alone."""

  def __init__(self, vocab: int, rngs: nnx.Rngs):
    self.embed = nnx.Embed(vocab, 16, rngs=rngs)
    self.out = nnx.Linear(16, vocab, rngs=rngs)

  def __call__(self, tokens, positions, segment_ids=None, cache=None):
    return self.out(self.embed(tokens)), cache


def toy_batch(rng: np.random.Generator, batch: int = 8, length: int = 12, vocab: int = 32):
  """Sequences where token t+1 = (token t + 1) % vocab: learnable by a bigram model."""
  start = rng.integers(0, vocab, size=(batch, 1))
  seq = (start + np.arange(length + 1)) % vocab
  weights = np.ones((batch, length), np.float32)
  weights[:, : length // 3] = 0  # a "prompt" that carries no loss
  return {"decoder_input_tokens": seq[:, :-1].astype(np.int32),
          "decoder_target_tokens": seq[:, 1:].astype(np.int32),
          "decoder_loss_weights": weights,
          "decoder_segment_ids": np.ones((batch, length), np.int32),
          "decoder_positions": np.broadcast_to(np.arange(length), (batch, length)).astype(np.int32)}


def stand_in(seed: int = 0, vocab: int = 32):
  graphdef, params = nnx.split(BigramStandIn(vocab, nnx.Rngs(seed)))
  return graphdef, nnx.to_pure_dict(params)


def test_schedules_warmup_then_decay():
  cos = schedules.make_schedule(1.0, warmup_steps=4, decay="cosine", total_steps=14,
                                final_fraction=0.1)
  assert [float(cos(s)) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
  assert float(cos(4)) == pytest.approx(1.0)
  assert float(cos(9)) == pytest.approx(0.55)  # halfway through the cosine: (1 + 0.1) / 2
  assert float(cos(14)) == pytest.approx(0.1)
  lin = schedules.make_schedule(2.0, warmup_steps=0, decay="linear", total_steps=10,
                                final_fraction=0.0)
  assert [float(lin(s)) for s in (0, 5, 10)] == pytest.approx([2.0, 1.0, 0.0])
  const = schedules.make_schedule(0.5, warmup_steps=2, decay="constant", total_steps=10)
  assert [float(const(s)) for s in (0, 1, 2, 9)] == pytest.approx([0.25, 0.5, 0.5, 0.5])
  with pytest.raises(ValueError, match="unknown decay 'exp'"):
    schedules.make_schedule(decay="exp", total_steps=3)


def test_cross_entropy_weighted_sums_and_z_loss():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 5)).astype(np.float32)
  targets = rng.integers(0, 5, size=(2, 3))
  weights = np.array([[1, 1, 0], [0, 1, 1]], np.float32)
  log_z = np.log(np.exp(logits).sum(-1))
  token_ce = log_z - np.take_along_axis(logits, targets[..., None], -1)[..., 0]
  ce, z, w = loss.cross_entropy(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights),
                                z_loss=1e-2)
  np.testing.assert_allclose(float(ce), (token_ce * weights).sum(), rtol=1e-6)
  np.testing.assert_allclose(float(z), 1e-2 * (log_z ** 2 * weights).sum(), rtol=1e-6)
  assert float(w) == 4.0


def test_microbatched_step_equals_full_batch_step():
  graphdef, params = stand_in()
  tx = optimizer.make_optimizer("adamw", schedules.make_schedule(1e-2, total_steps=10),
                                weight_decay=0.1)
  batch = toy_batch(np.random.default_rng(1))
  out = []
  for n in (1, 4):
    train_step = jax.jit(step_lib.make_train_step(graphdef, tx, optax.constant_schedule(1e-2),
                                                  z_loss=1e-4, microbatches=n))
    state, metrics = train_step(step_lib.init_state(params, tx), batch)
    out.append((state, metrics))
  (s1, m1), (s4, m4) = out
  assert int(s4["step"]) == 1
  np.testing.assert_allclose(float(m1["loss"]), float(m4["loss"]), rtol=1e-6)
  np.testing.assert_allclose(float(m1["grad_norm"]), float(m4["grad_norm"]), rtol=1e-5)
  assert float(m1["loss_tokens"]) == 8 * 8
  for a, b in zip(jax.tree.leaves(s1["params"]), jax.tree.leaves(s4["params"])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


@pytest.mark.parametrize("name,peak", [("adamw", 3e-2), ("adafactor", 0.3)])
def test_loss_falls_with_each_optimizer(name, peak):
  graphdef, params = stand_in()
  tx = optimizer.make_optimizer(name, schedules.make_schedule(peak, 5, "cosine", 60))
  train_step = jax.jit(step_lib.make_train_step(graphdef, tx, optax.constant_schedule(0.0)))
  state, rng, losses = step_lib.init_state(params, tx), np.random.default_rng(2), []
  for _ in range(60):
    state, metrics = train_step(state, toy_batch(rng))
    losses.append(float(metrics["loss"]))
  assert losses[0] > np.log(32) - 0.5
  assert losses[-1] < 0.3 * losses[0]


def test_decay_mask_skips_vectors():
  mask = optimizer.decay_mask({"w": jnp.ones((2, 2)), "scale": jnp.ones(2)})
  assert mask == {"w": True, "scale": False}


def test_checkpoint_keeps_last_k_and_restores_onto_another_mesh(tmp_path):
  mesh8 = jax.make_mesh((2, 2, 2), ("data", "fsdp", "tensor"), axis_types=(AxisType.Explicit,) * 3)
  mesh4 = jax.make_mesh((2, 2), ("fsdp", "tensor"), axis_types=(AxisType.Explicit,) * 2,
                        devices=jax.devices()[:4])
  params = {"w": jnp.arange(32.0).reshape(8, 4), "b": jnp.arange(4.0)}
  tx = optimizer.make_optimizer(schedule=optax.constant_schedule(0.1))
  state = step_lib.init_state(params, tx)
  place = lambda mesh: (lambda x: NamedSharding(mesh, P("fsdp", "tensor") if x.ndim == 2 else P()))
  state = jax.tree.map(lambda x: jax.device_put(x, place(mesh8)(x)), state)
  ckpt = checkpoint.Checkpointer(str(tmp_path), save_every=2, keep=2)
  for k in range(1, 8):
    state = dict(state, step=jnp.asarray(k, jnp.int32),
                 params=jax.tree.map(lambda x: x + 1, state["params"]))
    if ckpt.should_save(k):
      ckpt.save(state, {"batches": k})
  ckpt.close()
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  assert ckpt.all_steps() == [4, 6]
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=place(mesh4)(x)),
                        state)
  restored, data = ckpt.restore(target)
  assert data == {"batches": 6} and int(restored["step"]) == 6
  np.testing.assert_array_equal(np.asarray(restored["params"]["w"]),
                                np.arange(32.0).reshape(8, 4) + 6)
  assert restored["params"]["w"].sharding.mesh.shape == {"fsdp": 2, "tensor": 2}
  assert jax.tree.structure(restored) == jax.tree.structure(state)
  with pytest.raises(FileNotFoundError, match="no checkpoint for step 5"):
    ckpt.restore(target, step=5)
  ckpt.close()
  params = checkpoint.load_params(str(tmp_path), target["params"], step=4)
  np.testing.assert_array_equal(np.asarray(params["b"]), np.arange(4.0) + 4)
  with pytest.raises(FileNotFoundError, match="no checkpoint directory"):
    checkpoint.load_params(str(tmp_path / "missing"), target["params"])
  assert not (tmp_path / "missing").exists()


def test_flops_convention():
  # 6 * N + 12 * L * H * Dh * S
  assert flops.flops_per_token(1000, 2, 4, 8, 16) == 6000 + 12 * 2 * 4 * 8 * 16
  params = {"embed": jnp.ones((10, 4)), "w": jnp.ones((4, 4))}
  assert flops.matmul_params(params, embedding_size=40, tied_embedding=False) == 16
  assert flops.matmul_params(params, embedding_size=40, tied_embedding=True) == 56


def test_bfloat16_compute_keeps_float32_master_weights():
  from pinchjax.model.config import ModelConfig
  from pinchjax.model.transformer import Transformer
  cfg = ModelConfig(vocab_size=32, d_model=32, num_layers=1, num_heads=2, num_kv_heads=1,
                    head_dim=16, mlp_dim=64, dtype="bfloat16", param_dtype="float32")
  graphdef, params = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
  tx = optimizer.make_optimizer("adamw", optax.constant_schedule(1e-2))
  train_step = jax.jit(step_lib.make_train_step(graphdef, tx, optax.constant_schedule(1e-2)))
  state, rng, losses = step_lib.init_state(nnx.to_pure_dict(params), tx), np.random.default_rng(3), []
  for _ in range(30):
    state, metrics = train_step(state, toy_batch(rng))
    losses.append(float(metrics["loss"]))
  assert {x.dtype for x in jax.tree.leaves(state["params"])} == {jnp.dtype("float32")}
  assert {x.dtype for x in jax.tree.leaves(state["opt_state"]) if x.ndim} == {jnp.dtype("float32")}
  assert losses[-1] < 0.5 * losses[0]


def test_metrics_logger_writes_jsonl_and_a_progress_line(tmp_path):
  from pinchjax.train import metrics
  log = metrics.MetricsLogger(str(tmp_path), total_steps=10)
  log.write(1, "train", {"loss": 2.5, "learning_rate": 1e-3})
  log.write(1, "eval", {"eval/loss/fi": 2.75})
  line = log.progress(1, {"loss": 2.5, "learning_rate": 1e-3, "tokens_per_sec": 1234.4,
                          "mfu": 0.125})
  log.close()
  assert line.startswith("step 1/10  loss 2.5000  lr 0.001  ")
  assert "1234 tokens/s  MFU 12.5%  ETA " in line
  rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
  assert rows == [{"step": 1, "split": "train", "loss": 2.5, "learning_rate": 1e-3},
                  {"step": 1, "split": "eval", "eval/loss/fi": 2.75}]
  assert metrics.format_duration(3725) == "1:02:05"


def test_step_reports_parameters_made_non_finite_by_the_update():
  graphdef, params = stand_in()
  tx = optimizer.make_optimizer("adamw", lambda count: jnp.where(count >= 1, jnp.nan, 1e-2))
  train_step = jax.jit(step_lib.make_train_step(graphdef, tx, optax.constant_schedule(0.0)))
  state, rng = step_lib.init_state(params, tx), np.random.default_rng(4)
  state, first = train_step(state, toy_batch(rng))
  state, second = train_step(state, toy_batch(rng))
  assert bool(first["params_finite"]) and np.isfinite(float(first["loss"]))
  assert not bool(second["params_finite"]) and np.isfinite(float(second["loss"]))


def test_resuming_cuts_metrics_back_to_the_restored_step(tmp_path):
  from pinchjax.train import metrics
  path = tmp_path / "metrics.jsonl"
  rows = [{"step": s, "split": "train", "loss": 1.0 / s} for s in range(1, 6)]
  rows.insert(4, {"step": 4, "split": "eval", "eval/loss": 0.3})
  path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 6, "spl')  # torn
  log = metrics.MetricsLogger(str(tmp_path), total_steps=10, start_step=4)
  log.write(5, "train", {"loss": 0.5})
  log.close()
  assert [json.loads(l) for l in open(path)] == rows[:5] + [
      {"step": 5, "split": "train", "loss": 0.5}]
  assert [f for f in os.listdir(tmp_path) if ".tmp" in f] == []

  path.write_text('{"step": 1}\nnot json\n{"step": 2}\n')
  with pytest.raises(ValueError, match=f"{path}:2: not a metrics row"):
    metrics.truncate_jsonl(str(path), 1)


def test_a_sigterm_before_the_trainer_guards_itself_is_not_lost():
  import signal
  from pinchjax.train import preemption
  original = signal.getsignal(signal.SIGTERM)
  with preemption.PreemptionGuard() as quiet:
    with preemption.PreemptionGuard() as inner:
      assert not inner.requested
  with preemption.PreemptionGuard() as outer:  # the CLI's, entered before gin imports
    os.kill(os.getpid(), signal.SIGTERM)
    assert outer.requested and not quiet.requested
    with preemption.PreemptionGuard() as inner:  # train()'s
      assert inner.requested
  assert signal.getsignal(signal.SIGTERM) is original
