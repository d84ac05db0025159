"""Samplers: how the next token is chosen from a row of logits.

The decode loop batches requests that may each ask for a different sampler, so every sampler
reduces to one per-row `SamplingParams` (temperature 0 means greedy, top_k 0 and top_p 1 mean
no filtering) and `sample_tokens` applies all three filters row by row. The classes are the
user-facing names and keep the `get_next_tokens(logits, rng)` shape of Gemma's samplers.
Randomness is per row: a row's key depends only on its own seed and the step, so a sampled
sequence does not depend on what else is in its batch.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class SamplingParams:
  """Sampling settings of one request."""
  temperature: float = 0.0
  top_k: int = 0
  top_p: float = 1.0
  seed: int = 0

  def __post_init__(self):
    if not 0.0 <= self.temperature <= 100.0:
      raise ValueError(f"temperature must be in [0, 100], got {self.temperature}")
    if self.top_k < 0:
      raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

  @property
  def greedy(self) -> bool:
    return self.temperature == 0.0


def stack_params(params: Sequence[SamplingParams]) -> dict[str, np.ndarray]:
  """Per-row arrays for the decode loop."""
  return {
      "temperature": np.array([p.temperature for p in params], np.float32),
      "top_k": np.array([p.top_k for p in params], np.int32),
      "top_p": np.array([p.top_p for p in params], np.float32),
      "seed": np.array([p.seed for p in params], np.uint32),
  }


def row_keys(seeds: jax.Array, step: jax.Array) -> jax.Array:
  """One key per row from (its seed, the index of the token being generated)."""
  return jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), step))(seeds)


def greedy_tokens(logits: jax.Array) -> jax.Array:
  """`jnp.argmax` over the last axis (the first maximum; the first NaN if any), as int32.

  Written as a max, then the smallest index holding it: XLA on the CPU runs argmax's
  variadic (value, index) reduce several times slower than these two plain reductions,
  and at batch 32 over a 4k vocabulary that was ~4% of a decode step.
  """
  top = jnp.max(logits, axis=-1, keepdims=True)
  hit = (logits == top) | jnp.isnan(logits)
  index = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1)
  return jnp.min(jnp.where(hit, index, logits.shape[-1]), axis=-1)


def sample_tokens(logits: jax.Array, keys: jax.Array, temperature: jax.Array,
                  top_k: jax.Array, top_p: jax.Array) -> jax.Array:
  """Next token per row. logits [B, V]; keys [B]; per-row temperature/top_k/top_p [B]."""
  logits = logits.astype(jnp.float32)
  greedy = greedy_tokens(logits)
  vocab = logits.shape[-1]
  scaled = logits / jnp.maximum(temperature, 1e-6)[:, None]
  ranked = jnp.sort(scaled, axis=-1)[:, ::-1]
  rank = jnp.arange(vocab)[None, :]
  # Top-k first, then top-p over what top-k kept (the order transformers uses).
  k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)[:, None]
  ranked = jnp.where(rank < k, ranked, -jnp.inf)
  probs = jax.nn.softmax(ranked, axis=-1)
  # Keep a token if the mass ranked strictly above it is below top_p (the first always stays).
  kept = (jnp.cumsum(probs, axis=-1) - probs) < top_p[:, None]
  kept &= rank < k
  threshold = jnp.min(jnp.where(kept, ranked, jnp.inf), axis=-1, keepdims=True)
  filtered = jnp.where(scaled >= threshold, scaled, -jnp.inf)
  sampled = jax.vmap(jax.random.categorical)(keys, filtered)
  return jnp.where(temperature > 0, sampled, greedy).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Sampler:
  """Base class: a fixed setting for every row of a batch."""

  def params(self, seed: int = 0) -> SamplingParams:
    raise NotImplementedError

  def get_next_tokens(self, logits: jax.Array, rng: jax.Array) -> jax.Array:
    """logits [B, V], rng one key (split over rows) -> tokens [B]."""
    p = self.params()
    batch = logits.shape[0]
    full = lambda v, dt: jnp.full((batch,), v, dt)
    return sample_tokens(logits, jax.random.split(rng, batch), full(p.temperature, jnp.float32),
                         full(p.top_k, jnp.int32), full(p.top_p, jnp.float32))


@dataclasses.dataclass(frozen=True)
class Greedy(Sampler):

  def params(self, seed: int = 0) -> SamplingParams:
    return SamplingParams(seed=seed)


@dataclasses.dataclass(frozen=True)
class Temperature(Sampler):
  temperature: float = 1.0

  def params(self, seed: int = 0) -> SamplingParams:
    return SamplingParams(temperature=self.temperature, seed=seed)


@dataclasses.dataclass(frozen=True)
class TopK(Sampler):
  k: int = 40
  temperature: float = 1.0

  def params(self, seed: int = 0) -> SamplingParams:
    return SamplingParams(temperature=self.temperature, top_k=self.k, seed=seed)


@dataclasses.dataclass(frozen=True)
class TopP(Sampler):
  p: float = 0.95
  temperature: float = 1.0

  def params(self, seed: int = 0) -> SamplingParams:
    return SamplingParams(temperature=self.temperature, top_p=self.p, seed=seed)


def make_sampler(name: str = "greedy", temperature: float = 1.0, top_k: int = 40,
                 top_p: float = 0.95) -> Sampler:
  """A sampler by name (as decode configs name them): greedy, temperature, top_k, top_p."""
  samplers = {
      "greedy": Greedy,
      "temperature": lambda: Temperature(temperature),
      "top_k": lambda: TopK(top_k, temperature),
      "top_p": lambda: TopP(top_p, temperature),
  }
  if name not in samplers:
    raise ValueError(f"unknown sampler {name!r}; expected one of {sorted(samplers)}")
  return samplers[name]()
