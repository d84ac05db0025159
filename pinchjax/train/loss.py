"""Masked next-token cross-entropy with an optional z-loss, as sums for exact averaging."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def cross_entropy(logits: jax.Array, targets: jax.Array, weights: jax.Array,
                  z_loss: float = 0.0) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Returns (weighted sum of cross-entropy, weighted sum of z-loss, sum of weights).

  Sums rather than means so that microbatches, devices and hosts combine into the exact
  token-weighted mean. The z-loss `z_loss * log(Z)^2` (PaLM) keeps the softmax normaliser near
  1; the optimised objective is cross-entropy + z-loss. Logits are upcast to float32.
  """
  logits = logits.astype(jnp.float32)
  weights = weights.astype(jnp.float32)
  log_z = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  ce = jnp.sum((log_z - target_logit) * weights)
  z = jnp.sum(z_loss * jnp.square(log_z) * weights) if z_loss else jnp.zeros((), jnp.float32)
  return ce, z, jnp.sum(weights)
