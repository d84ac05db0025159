"""Samplers: filters keep exactly the right tokens, frequencies follow the distribution,
and a row's draw depends only on its own seed."""
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


def test_rows_depend_only_on_their_own_seed():
  logits = jax.random.normal(jax.random.key(0), (6, 50))
  seeds = jnp.array([3, 1, 4, 1, 5, 9], jnp.uint32)
  args = lambda sl: (jnp.full((len(logits[sl]),), 1.0), jnp.zeros(len(logits[sl]), jnp.int32),
                     jnp.full((len(logits[sl]),), 1.0))
  whole = sampling.sample_tokens(logits, sampling.row_keys(seeds, 7), *args(slice(None)))
  for i in range(6):
    one = sampling.sample_tokens(logits[i:i + 1], sampling.row_keys(seeds[i:i + 1], 7),
                                 *args(slice(i, i + 1)))
    assert int(one[0]) == int(whole[i])
  # Rows 1 and 3 share seed and step but not logits; same seed on same logits -> same token.
  again = sampling.sample_tokens(logits, sampling.row_keys(seeds, 7), *args(slice(None)))
  np.testing.assert_array_equal(whole, again)


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
