"""Small building blocks of the decoder: parameters with logical axes, RMSNorm, RoPE, MLP."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pinchjax.model.config import ModelConfig
from pinchjax.parallel.rules import LogicalAxes, constrain

Initializer = Callable[[jax.Array, tuple[int, ...], jnp.dtype], jax.Array]


def param(rngs: nnx.Rngs, init: Initializer, shape: tuple[int, ...], axes: LogicalAxes,
          dtype: jnp.dtype) -> nnx.Param:
  """An nnx.Param whose logical axes are its `logical_axes` metadata.

  Not Flax's `out_sharding`: Flax turns that into shardings by itself (eagerly, or in
  nnx.eval_shape under a mesh) with unchecked rules; pinchjax.parallel derives shardings from
  these names under rules checked for collisions.
  """
  assert len(shape) == len(axes), (shape, axes)
  return nnx.Param(init(rngs.params(), shape, dtype), logical_axes=axes)


def fan_in_init(fan_in: int) -> Initializer:
  """Normal(0, 1 / fan_in): unit-variance outputs for unit-variance inputs."""
  return jax.nn.initializers.normal(1.0 / math.sqrt(fan_in))


class RMSNorm(nnx.Module):
  """RMSNorm over the last axis, computed in float32; Gemma's variant scales by (1 + w)."""

  def __init__(self, dim: int, axis: str, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.eps = cfg.norm_eps
    self.plus_one = cfg.norm_plus_one
    init = jax.nn.initializers.zeros if self.plus_one else jax.nn.initializers.ones
    self.scale = param(rngs, init, (dim,), (axis,), cfg.jnp_param_dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    w = self.scale[...].astype(jnp.float32)
    return (y * (1.0 + w if self.plus_one else w)).astype(x.dtype)


def rope_inv_freq(cfg: ModelConfig, kind: str) -> np.ndarray:
  """Inverse frequencies [head_dim / 2] of a layer kind, with the config's scaling applied
  to global layers only (Gemma 3 scales global layers, never the local ones)."""
  dim = cfg.head_dim
  theta = cfg.local_rope_theta if kind == "local" else cfg.rope_theta
  inv = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
  scaling = "none" if kind == "local" else cfg.rope_scaling
  if scaling == "linear":
    inv = inv / cfg.rope_factor
  elif scaling == "llama3":
    # Llama 3.1: long wavelengths divided by the factor, short ones kept, a smooth band between.
    low_wavelen = cfg.rope_original_max_len / cfg.rope_low_freq_factor
    high_wavelen = cfg.rope_original_max_len / cfg.rope_high_freq_factor
    wavelen = 2 * math.pi / inv
    smooth = ((cfg.rope_original_max_len / wavelen - cfg.rope_low_freq_factor)
              / (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor))
    mid = (1 - smooth) * inv / cfg.rope_factor + smooth * inv
    inv = np.where(wavelen > low_wavelen, inv / cfg.rope_factor,
                   np.where(wavelen < high_wavelen, inv, mid))
  return inv.astype(np.float32)


def apply_rope(x: jax.Array, positions: jax.Array, inv_freq: np.ndarray) -> jax.Array:
  """Rotates x [batch, length, heads, head_dim] by positions [batch, length].

  Uses the half-split layout (first half / second half of head_dim) of the Hugging Face
  checkpoints, so imported q/k weights need no permutation.
  """
  angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [B, L, D/2]
  cos = jnp.cos(angles)[:, :, None, :].astype(x.dtype)
  sin = jnp.sin(angles)[:, :, None, :].astype(x.dtype)
  x1, x2 = jnp.split(x, 2, axis=-1)
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


class MLP(nnx.Module):
  """Gated MLP: down(act(gate(x)) * up(x)); SwiGLU with silu, GeGLU with gelu_tanh."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    d, f, pd = cfg.d_model, cfg.mlp_dim, cfg.jnp_param_dtype
    self.activation = cfg.activation
    self.gate = param(rngs, fan_in_init(d), (d, f), ("embed", "mlp"), pd)
    self.up = param(rngs, fan_in_init(d), (d, f), ("embed", "mlp"), pd)
    self.down = param(rngs, fan_in_init(f), (f, d), ("mlp", "embed"), pd)

  def __call__(self, x: jax.Array) -> jax.Array:
    dt = x.dtype
    gate = jnp.einsum("bld,df->blf", x, self.gate[...].astype(dt))
    up = jnp.einsum("bld,df->blf", x, self.up[...].astype(dt))
    act = jax.nn.silu(gate) if self.activation == "silu" else jax.nn.gelu(gate, approximate=True)
    h = constrain(act * up, ("batch", "length", "act_mlp"))
    return jnp.einsum("blf,fd->bld", h, self.down[...].astype(dt))
