"""Sharding on 8 simulated CPU devices: a (2, 2, 2) mesh gives the single-device numbers."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from compiled_programs import cross_device_ops
from pinchjax import parallel
from pinchjax.model import ModelConfig, init_cache, init_model

CFG = ModelConfig(vocab_size=64, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                  head_dim=8, mlp_dim=64, layer_pattern=("local", "global"),
                  sliding_window=4, qk_norm=True, qkv_bias=True, tie_embeddings=False)
SHAPE = {"data": 2, "fsdp": 2, "tensor": 2}


@pytest.fixture(scope="module")
def mesh():
  assert jax.device_count() == 8, "tests/conftest.py sets 8 host devices"
  return parallel.make_mesh(SHAPE)


@pytest.fixture(scope="module")
def sharded(mesh):
  return parallel.sharded_init(CFG, parallel.Partitioner.create(mesh), seed=0)


def _loss(graphdef, params, tokens, positions):
  logits, _ = nnx.merge(graphdef, params)(tokens, positions)
  return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(
      logits, tokens[..., None], -1)[..., 0]), logits


def test_make_mesh_fills_and_rejects(mesh):
  assert dict(mesh.shape) == SHAPE
  assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)
  assert dict(parallel.make_mesh({"data": -1, "tensor": 2}).shape) == {
      "data": 4, "fsdp": 1, "tensor": 2}
  with pytest.raises(ValueError, match="needs 6 devices"):
    parallel.make_mesh({"data": 3, "tensor": 2})
  with pytest.raises(ValueError, match="unknown mesh axes"):
    parallel.make_mesh({"model": 8})


def test_parameters_carry_the_rules_shardings(sharded):
  model, shardings = sharded
  state = nnx.state(model)
  expected = {
      ("embed",): (P("tensor", "fsdp"), (32, 16)),
      ("lm_head",): (P("fsdp", "tensor"), (16, 32)),
      ("layers", 0, "attn", "q"): (P("fsdp", "tensor", None), (16, 2, 8)),
      ("layers", 0, "attn", "k"): (P("fsdp", "tensor", None), (16, 1, 8)),
      ("layers", 0, "attn", "o"): (P("tensor", None, "fsdp"), (2, 8, 16)),
      ("layers", 0, "attn", "q_bias"): (P("tensor", None), (2, 8)),
      ("layers", 1, "attn", "q_norm", "scale"): (P(None), (8,)),
      ("layers", 1, "mlp", "down"): (P("tensor", "fsdp"), (32, 16)),
      ("layers", 1, "mlp_norm", "scale"): (P("fsdp"), (16,)),
  }
  flat = dict(nnx.to_flat_state(state))
  flat_shardings = dict(nnx.to_flat_state(shardings))
  for path, (spec, shard_shape) in expected.items():
    array = flat[path].get_value()
    assert array.sharding.spec == spec, path
    assert flat_shardings[path].get_value().spec == spec, path
    assert {s.data.shape for s in array.addressable_shards} == {shard_shape}, path

  report = parallel.sharding_report(state, shardings)
  norm_bytes = 2 * 2 * 8 * 4  # q_norm and k_norm of 2 layers: replicated (head_dim -> None)
  total = CFG.num_params() * 4
  assert report["total_bytes"] == total
  assert report["sharded_bytes"] == total - norm_bytes
  assert report["fraction_sharded"] == pytest.approx(1 - norm_bytes / total)
  assert sorted(report["replicated"]) == sorted(
      f"layers.{i}.attn.{n}_norm.scale" for i in range(2) for n in "qk")
  with pytest.raises(ValueError, match=r"only 0.0% of parameter bytes are sharded .*'lm_head'"):
    parallel.sharding_report(nnx.state(init_model(CFG, seed=0)), min_fraction=0.5)
  device0 = sum(a.addressable_shards[0].data.nbytes for a in jax.tree.leaves(state))
  assert report["bytes_per_device"] == device0 < total // 3  # nothing is split over `data`


def test_sharded_forward_and_gradient_equal_single_device(mesh, sharded):
  model, _ = sharded
  rules = parallel.logical_axis_rules()
  graphdef, params = nnx.split(model, nnx.Param)
  single = nnx.state(init_model(CFG, seed=0), nnx.Param)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(single)):
    np.testing.assert_allclose(a, b, atol=1e-6)  # init does not depend on the mesh

  tokens = jax.random.randint(jax.random.key(0), (4, 9), 0, 64)
  positions = jnp.broadcast_to(jnp.arange(9), (4, 9))
  step = jax.value_and_grad(lambda p, t, q: _loss(graphdef, p, t, q), has_aux=True)
  (ref_loss, ref_logits), ref_grads = jax.jit(step)(single, tokens, positions)
  with parallel.use_mesh(mesh, rules):
    (loss, logits), grads = jax.jit(step)(params, tokens, positions)
  assert logits.sharding.spec == P(("data", "fsdp"), None, "tensor")
  np.testing.assert_allclose(loss, ref_loss, atol=1e-5)
  np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
  for (path, g), r in zip(jax.tree.leaves_with_path(grads), jax.tree.leaves(ref_grads)):
    np.testing.assert_allclose(g, r, atol=1e-5, err_msg=jax.tree_util.keystr(path))


def test_sharded_cache_prefill_equals_single_device(mesh, sharded):
  model, _ = sharded
  rules = parallel.logical_axis_rules()
  cache = init_cache(CFG, 4, 16, partitioner=parallel.Partitioner(mesh, rules))
  assert cache.layers[1].k.sharding.spec == P(("data", "fsdp"), "tensor", None, None)
  assert cache.layers[0].pos.sharding.spec == P(("data", "fsdp"), None)
  tokens = jax.random.randint(jax.random.key(1), (4, 6), 0, 64)
  positions = jnp.broadcast_to(jnp.arange(6), (4, 6))
  graphdef, params = nnx.split(model)
  fwd = jax.jit(lambda p, c: nnx.merge(graphdef, p)(tokens, positions, None, c))
  with parallel.use_mesh(mesh, rules):
    logits, new_cache = fwd(params, cache)
  ref_logits, ref_cache = fwd(jax.device_put(params, jax.devices()[0]),
                              init_cache(CFG, 4, 16))
  np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
  np.testing.assert_allclose(new_cache.layers[0].k, ref_cache.layers[0].k, atol=1e-5)


def test_batch_sharded_cache_writes_need_no_collectives():
  """With rows split over devices and weights replicated, each device writes its own rows of
  the cache: a cached step compiles to a program with no cross-device traffic at all."""
  mesh = parallel.make_mesh({"data": 8})
  rules = parallel.logical_axis_rules()
  partitioner = parallel.Partitioner(mesh, rules)
  model, _ = parallel.sharded_init(CFG, partitioner, seed=0)
  graphdef, params = nnx.split(model)
  rows = jax.sharding.NamedSharding(mesh, P(("data", "fsdp")))
  step = jax.jit(lambda p, c, t, pos: nnx.merge(graphdef, p)(t, pos, None, c))
  for length in (6, 1):  # prefill (several tokens per row), then one decode step
    tokens = jax.device_put(jnp.ones((8, length), jnp.int32), rows)
    positions = jax.device_put(jnp.broadcast_to(jnp.arange(length), (8, length)), rows)
    with parallel.use_mesh(mesh, rules):
      hlo = step.lower(params, init_cache(CFG, 8, 16, partitioner=partitioner), tokens,
                       positions).compile().as_text()
    found = cross_device_ops(hlo)
    assert not found, f"length {length}: {found}"


def test_colliding_or_unknown_rules_raise(mesh):
  colliding = parallel.logical_axis_rules(
      [(n, "fsdp" if n == "heads" else a) for n, a in parallel.DEFAULT_RULES])
  with pytest.raises(ValueError, match=r"layers\.0\.attn\.o: logical axes 'heads' and 'embed' "
                     r"both map to mesh axis 'fsdp'"):
    parallel.sharded_init(CFG, parallel.Partitioner(mesh, colliding))
  with pytest.raises(ValueError, match="'batch' and 'act_embed' both map to mesh axis 'data'"):
    parallel.check_rules(parallel.logical_axis_rules([("batch", "data"), ("act_embed", "data")]),
                         {"x": ("batch", "act_embed")})
  _, abstract = parallel.abstract_model(CFG)
  axes = parallel.logical_axes(abstract)
  assert axes["layers.0.attn.q"] == ("embed", "heads", "head_dim")
  parallel.check_rules(parallel.logical_axis_rules(), axes)  # the defaults are consistent
  missing = parallel.logical_axis_rules([(n, a) for n, a in parallel.DEFAULT_RULES
                                         if n != "mlp"])
  with pytest.raises(ValueError, match="logical axis 'mlp' has no rule"):
    parallel.sharded_init(CFG, parallel.Partitioner(mesh, missing))
  with pytest.raises(ValueError, match="two rules"):
    parallel.logical_axis_rules([("embed", "fsdp"), ("embed", None)])


def test_undivisible_axes_stay_replicated_with_a_warning(mesh, caplog):
  mqa = CFG.replace(num_kv_heads=1)  # one KV head cannot be split over tensor=2
  _, abstract = parallel.abstract_model(mqa)
  shardings = dict(nnx.to_flat_state(
      parallel.Partitioner.create(mesh).shardings(abstract)))
  assert shardings[("layers", 0, "attn", "k")].get_value().spec == P("fsdp", None, None)
  assert shardings[("layers", 0, "attn", "q")].get_value().spec == P("fsdp", "tensor", None)
  assert "layers.0.attn.k (32, 1, 8): mesh axes do not divide the shape" in caplog.text
