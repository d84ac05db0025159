"""Samplers: filters keep exactly the right tokens, frequencies follow the distribution,
and a row's draw is the one a reference sampler makes for its seed and step alone."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pinchjax.infer import sampling

PROBS = np.array([0.5, 0.3, 0.15, 0.05], np.float32)
N = 2000


def _draw(temperature=1.0, top_k=0, top_p=1.0, probs=PROBS, n=N):
  logits = jnp.broadcast_to(jnp.log(jnp.asarray(probs)), (n, len(probs)))
  keys = sampling.row_keys(jnp.arange(n, dtype=jnp.uint32), jnp.int32(0))
  full = lambda v, dt: jnp.full((n,), v, dt)
  out = sampling.sample_tokens(logits, keys, full(temperature, jnp.float32),
                               full(top_k, jnp.int32), full(top_p, jnp.float32))
  return np.bincount(np.asarray(out), minlength=len(probs)) / n


def test_greedy_is_argmax():
  logits = jax.random.normal(jax.random.key(0), (5, 11))
  out = sampling.Greedy().get_next_tokens(logits, jax.random.key(1))
  np.testing.assert_array_equal(out, np.argmax(logits, -1))
  assert sampling.TopK(k=1, temperature=3.0).get_next_tokens(logits, jax.random.key(2)).tolist() \
      == np.argmax(logits, -1).tolist()


def test_greedy_tokens_equal_argmax_on_ties_nans_and_infinities():
  rng = np.random.default_rng(0)
  logits = rng.integers(-3, 4, (64, 37)).astype(np.float32)  # many ties
  logits[5, [7, 20]] = np.nan
  logits[6, 11] = np.inf
  logits[7, :] = -np.inf
  logits[8, [3, 9]] = np.inf
  logits[9, :] = np.nan
  got = np.asarray(jax.jit(sampling.greedy_tokens)(jnp.asarray(logits)))
  assert got.dtype == np.int32
  np.testing.assert_array_equal(got, np.argmax(logits, axis=-1))
  assert list(got[5:10]) == [7, 11, 0, 3, 0]


def test_temperature_one_follows_the_distribution():
  np.testing.assert_allclose(_draw(), PROBS, atol=0.035)


def test_temperature_sharpens():
  # p^(1/T) renormalised with T = 0.5.
  sharp = PROBS ** 2 / np.sum(PROBS ** 2)
  np.testing.assert_allclose(_draw(temperature=0.5), sharp, atol=0.035)


@pytest.mark.parametrize("top_p,kept", [(0.5, 1), (0.7, 2), (0.85, 3), (1.0, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
  freq = _draw(top_p=top_p)
  assert np.all(freq[kept:] == 0)
  np.testing.assert_allclose(freq[:kept], PROBS[:kept] / PROBS[:kept].sum(), atol=0.035)


def test_top_k_then_top_p():
  freq = _draw(top_k=2)
  np.testing.assert_allclose(freq, [0.625, 0.375, 0, 0], atol=0.035)
  # Top-p applies to the top-k renormalised distribution: 0.625 < 0.65 keeps both.
  assert _draw(top_k=2, top_p=0.65)[1] > 0.3
  assert _draw(top_k=2, top_p=0.6)[1] == 0


def reference_token(logits: np.ndarray, seed: int, step: int, temperature: float, top_k: int,
                    top_p: float) -> int:
  """One row sampled on its own: the top-k/top-p filter written out in numpy, then one
  categorical draw with the key of (seed, step)."""
  scaled = logits.astype(np.float32) / np.float32(temperature)
  order = np.argsort(-scaled)
  keep = order[:top_k] if top_k else order
  probs = np.exp(scaled[keep] - scaled[keep].max())
  probs /= probs.sum()
  keep = keep[:int(np.sum(np.cumsum(probs) - probs < top_p))]  # mass above it < top_p
  filtered = np.full_like(scaled, -np.inf)
  filtered[keep] = scaled[keep]
  key = jax.random.fold_in(jax.random.key(seed), step)
  return int(jax.random.categorical(key, jnp.asarray(filtered)))


# (seed, temperature, top_k, top_p) of the rows; rows 1 and 3 share a seed. With these logits
# the filters change 3 of the 10 draws below (rows 1-3), so the reference filter is exercised.
ROWS = [(3, 1.0, 0, 1.0), (1, 0.7, 3, 1.0), (4, 1.3, 0, 0.3), (1, 1.0, 4, 0.5), (5, 2.0, 0, 1.0)]


def _sample(logits, rows, step):
  seeds, temperature, top_k, top_p = (np.array(c) for c in zip(*rows))
  return np.asarray(sampling.sample_tokens(
      jnp.asarray(logits), sampling.row_keys(jnp.asarray(seeds, jnp.uint32), jnp.int32(step)),
      jnp.asarray(temperature, jnp.float32), jnp.asarray(top_k, jnp.int32),
      jnp.asarray(top_p, jnp.float32)))


def test_a_rows_draw_depends_only_on_its_seed_step_and_logits():
  """Whatever batch a row is in (alone, among others, reordered, beside padding rows), its
  token is the reference draw for its own seed, step and settings."""
  logits = np.asarray(jax.random.normal(jax.random.key(0), (len(ROWS), 50)), np.float32)
  pad = ((0, 1.0, 0, 1.0), np.zeros(50, np.float32))  # a padding row: seed 0, flat logits
  for step in (0, 7):
    want = [reference_token(l, r[0], step, *r[1:]) for l, r in zip(logits, ROWS)]
    np.testing.assert_array_equal(_sample(logits, ROWS, step), want)
    for i, row in enumerate(ROWS):
      assert _sample(logits[i:i + 1], [row], step)[0] == want[i]
    order = [4, 2, 0, 3, 1]
    np.testing.assert_array_equal(_sample(logits[order], [ROWS[i] for i in order], step),
                                  [want[i] for i in order])
    padded = np.concatenate([pad[1][None], logits, np.repeat(pad[1][None], 2, 0)])
    np.testing.assert_array_equal(_sample(padded, [pad[0], *ROWS, pad[0], pad[0]], step)[1:6],
                                  want)


def test_different_seeds_and_steps_draw_differently():
  flat = np.zeros((64, 1000), np.float32)  # uniform: two keys agree with probability 1/1000
  by_seed = _sample(flat, [(s, 1.0, 0, 1.0) for s in range(64)], step=0)
  by_step = [int(_sample(flat[:1], [(0, 1.0, 0, 1.0)], step=t)[0]) for t in range(16)]
  assert len(set(by_seed.tolist())) >= 58 and len(set(by_step)) >= 14


def test_params_validation_and_names():
  with pytest.raises(ValueError, match="top_p"):
    sampling.SamplingParams(top_p=0.0)
  with pytest.raises(ValueError, match="top_k"):
    sampling.SamplingParams(top_k=-1)
  with pytest.raises(ValueError, match="unknown sampler"):
    sampling.make_sampler("beam")
  assert sampling.make_sampler("top_p", top_p=0.9).params(seed=5) == sampling.SamplingParams(
      temperature=1.0, top_p=0.9, seed=5)
  assert sampling.make_sampler("greedy").params().greedy
