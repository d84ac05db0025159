"""Transformer forward: cached decoding, ragged prefill, packing, scan and remat equal the
plain forward."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pinchjax.model import ModelConfig, Transformer, init_cache, init_model

WINDOW = 4
LENGTH = 11  # longer than the window, so ring buffers wrap
CFG = ModelConfig(vocab_size=64, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                  head_dim=8, mlp_dim=64, layer_pattern=("local", "global"),
                  sliding_window=WINDOW, qk_norm=True, sandwich_norm=True,
                  norm_plus_one=True, embed_scale=True, activation="gelu_tanh")


@pytest.fixture(scope="module")
def forward():
  """One jitted forward, (tokens, positions, segment_ids=None, cache=None) -> model output."""
  graphdef, state = nnx.split(init_model(CFG, seed=0))
  fwd = jax.jit(lambda st, *args: nnx.merge(graphdef, st)(*args))
  return lambda *args: fwd(state, *args)


def _tokens(batch, length, seed=1):
  return jax.random.randint(jax.random.key(seed), (batch, length), 0, 64)


def _arange(batch, length):
  return jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))


def test_cached_decoding_matches_full_forward_past_the_window(forward):
  tokens, positions = _tokens(2, LENGTH), _arange(2, LENGTH)
  full, none = forward(tokens, positions)
  assert none is None and full.dtype == jnp.float32 and full.shape == (2, LENGTH, 64)

  cache = init_cache(CFG, 2, 16)
  assert cache.layers[0].k.shape == (2, 2, WINDOW, 8)  # ring for the local layer
  assert cache.layers[1].k.shape == (2, 2, 16, 8)
  logits = []
  for i in range(LENGTH):
    out, cache = forward(tokens[:, i:i + 1], positions[:, i:i + 1], None, cache)
    logits.append(out)
  np.testing.assert_allclose(jnp.concatenate(logits, 1), full, atol=1e-5)
  # The ring holds the last WINDOW positions, the global buffer all of them.
  np.testing.assert_array_equal(jnp.sort(cache.layers[0].pos[0]), [7, 8, 9, 10])
  np.testing.assert_array_equal(cache.layers[1].pos[0, :12], list(range(11)) + [-1])

  # A chunked prefill longer than the window, then a chunk that wraps the ring.
  cache = init_cache(CFG, 2, 16)
  first, cache = forward(tokens[:, :7], positions[:, :7], None, cache)
  rest, cache = forward(tokens[:, 7:], positions[:, 7:], None, cache)
  np.testing.assert_allclose(jnp.concatenate([first, rest], 1), full, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_ragged_padded_prefill_then_decode(forward, side):
  lengths = [8, 3]
  seqs = np.asarray(_tokens(2, LENGTH, seed=7))
  alone, _ = forward(jnp.asarray(seqs), _arange(2, LENGTH))  # causal: prefixes are alone
  tokens = np.zeros((2, LENGTH), np.int32)
  positions = np.full((2, LENGTH), 3, np.int32)  # padding positions must not matter
  segments = np.zeros((2, LENGTH), np.int32)
  for row, n in enumerate(lengths):
    cols = slice(0, n) if side == "right" else slice(LENGTH - n, LENGTH)
    tokens[row, cols], positions[row, cols], segments[row, cols] = seqs[row, :n], range(n), 1
    if side == "left":
      positions[row, :LENGTH - n] = 0
  cache = init_cache(CFG, 2, 16)
  prefill, cache = forward(jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(segments),
                           cache)
  for row, n in enumerate(lengths):
    cols = slice(0, n) if side == "right" else slice(LENGTH - n, LENGTH)
    np.testing.assert_allclose(prefill[row, cols], alone[row, :n], atol=1e-5)
  for step in range(3):
    nxt = jnp.asarray([[seqs[row, n + step]] for row, n in enumerate(lengths)], jnp.int32)
    pos = jnp.asarray([[n + step] for n in lengths], jnp.int32)
    out, cache = forward(nxt, pos, None, cache)
    for row, n in enumerate(lengths):
      np.testing.assert_allclose(out[row, 0], alone[row, n + step], atol=1e-5)


def test_packed_row_equals_segments_alone(forward):
  seqs = _tokens(2, LENGTH, seed=3)
  # Row 0 packs seqs[0][:5], seqs[1][:4] and two pads; row 1 is seqs[1] alone.
  tokens = jnp.stack([jnp.concatenate([seqs[0, :5], seqs[1, :4], jnp.zeros(2, jnp.int32)]),
                      seqs[1]])
  positions = jnp.asarray([list(range(5)) + list(range(4)) + [0, 0], list(range(LENGTH))],
                          jnp.int32)
  segments = jnp.asarray([[1] * 5 + [2] * 4 + [0] * 2, [1] * LENGTH], jnp.int32)
  packed, _ = forward(tokens, positions, segments)
  alone, _ = forward(seqs, _arange(2, LENGTH))
  np.testing.assert_allclose(packed[0, :5], alone[0, :5], atol=1e-5)
  np.testing.assert_allclose(packed[0, 5:9], alone[1, :4], atol=1e-5)
  np.testing.assert_allclose(packed[1], alone[1], atol=1e-5)
  assert np.all(np.isfinite(np.asarray(packed)))  # pads see nothing but stay finite


def _stack_layers(state):
  """A list-of-layers State in the stacked layout of scan_layers=True."""
  flat = {tuple(p): v.get_value() for p, v in nnx.to_flat_state(state)}
  out = {p: v for p, v in flat.items() if p[0] != "layers"}
  for rest in {p[2:] for p in flat if p[0] == "layers"}:
    out[("layers",) + rest] = jnp.stack([flat[("layers", i) + rest]
                                         for i in range(CFG.num_layers)])
  return out


def test_scan_with_remat_gives_the_same_loss_and_gradients():
  tokens, positions = _tokens(2, 8), _arange(2, 8)
  params = nnx.state(init_model(CFG, seed=0), nnx.Param)

  def loss_and_grad(cfg, params):
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0))))
    if cfg.scan_layers:
      stacked = _stack_layers(params)
      params = jax.tree.map_with_path(
          lambda p, v: v.replace(stacked[tuple(k.key for k in p)]), abstract,
          is_leaf=lambda x: isinstance(x, nnx.Variable))

    def loss(params):
      logits, _ = nnx.merge(graphdef, params)(tokens, positions)
      return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(
          logits, tokens[..., None], -1)[..., 0])
    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    return value, (_stack_layers(grads) if not cfg.scan_layers else
                   {tuple(p): v.get_value() for p, v in nnx.to_flat_state(grads)})

  plain = loss_and_grad(CFG, params)
  scanned = loss_and_grad(CFG.replace(scan_layers=True, remat_policy="dots"), params)
  np.testing.assert_allclose(scanned[0], plain[0], rtol=1e-6)
  assert scanned[1].keys() == plain[1].keys()
  for path in plain[1]:
    np.testing.assert_allclose(scanned[1][path], plain[1][path], atol=1e-6, err_msg=str(path))


def test_config_validation_names_the_field():
  with pytest.raises(ValueError, match="activation"):
    ModelConfig(activation="relu")
  with pytest.raises(ValueError, match="sliding_window"):
    ModelConfig(layer_pattern=("local",))
  with pytest.raises(ValueError, match="num_kv_heads"):
    ModelConfig(num_heads=4, num_kv_heads=3)
  for cfg in (ModelConfig(), CFG, CFG.replace(qkv_bias=True, out_bias=True,
                                               tie_embeddings=False)):
    model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    params = nnx.state(model, nnx.Param)
    assert sum(x.size for x in jax.tree.leaves(params)) == cfg.num_params()


@pytest.mark.parametrize("group", [1, 2, 4])
def test_one_query_attention_equals_the_grouped_form(group):
  # On a CPU a single query per row takes the per-head form; with two queries per row (the
  # grouped form) the first query, which sees the same keys, must get the same output.
  from pinchjax.model.attention import attend  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(group)
  b, kv, s, d = 3, 2, 10, 8
  q = jnp.asarray(rng.standard_normal((b, 2, kv * group, d)), jnp.float32)
  k, v = (jnp.asarray(rng.standard_normal((b, kv, s, d)), jnp.float32) for _ in range(2))
  k_pos = jnp.asarray(np.where(np.arange(s) < 7, np.arange(s), -1)[None].repeat(b, 0))
  q_pos = jnp.asarray([[6, 6], [3, 3], [5, 5]])
  opts = dict(scale=d ** -0.5, window=4, softcap=5.0)
  one = attend(q[:, :1], k, v, q_pos[:, :1], k_pos, **opts)
  two = attend(q, k, v, q_pos, k_pos, **opts)
  np.testing.assert_allclose(one[:, 0], two[:, 0], rtol=1e-5, atol=1e-6)
  # The masks applied: row 1 (position 3, window 4) sees keys 0..3 only.
  unmasked = attend(q[:1, :1], k[:1], v[:1], q_pos[:1, :1], k_pos[:1], scale=d ** -0.5,
                      window=None, softcap=None)
  assert not np.allclose(unmasked[0, 0], one[0, 0])
