"""The train step's CPU compiler options: what they set, that XLA_FLAGS wins, and that a step
compiled with them computes what one compiled without them does."""
import jax
import numpy as np
import optax
from flax import nnx

from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.train import optimizer, step


def test_cpu_options_hand_only_dots_to_ynnpack(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  assert step.compiler_options() == {
      "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}
  monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=")
  assert step.compiler_options() == {}


def test_step_with_options_matches_step_without():
  cfg = ModelConfig(vocab_size=64, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                    head_dim=8, mlp_dim=64)
  graphdef, params = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
  schedule = optax.constant_schedule(1e-2)
  tx = optimizer.make_optimizer("adamw", schedule)
  tokens = np.random.default_rng(0).integers(0, 64, (2, 17)).astype(np.int32)
  batch = {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
           "decoder_loss_weights": np.ones((2, 16), np.float32),
           "decoder_segment_ids": np.ones((2, 16), np.int32),
           "decoder_positions": np.tile(np.arange(16, dtype=np.int32), (2, 1))}
  state = step.init_state(nnx.to_pure_dict(params), tx)
  fn = step.make_train_step(graphdef, tx, schedule)
  results = []
  for options in ({}, step.compiler_options()):
    s = state
    for _ in range(3):
      s, metrics = jax.jit(fn, compiler_options=options)(s, batch)
    results.append((float(metrics["loss"]), s["params"]))
  assert results[0][0] > 0 and np.isclose(results[0][0], results[1][0], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               results[0][1], results[1][1])
