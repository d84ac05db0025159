"""Small building blocks of the decoder: parameters with logical axes, RMSNorm, RoPE, MLP."""
from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pinchjax.model import lora
from pinchjax.model.config import ModelConfig
from pinchjax.model.sharding import LogicalAxes, constrain

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
  """Inverse frequencies [head_dim / 2] of a layer kind.

  Computed in float32 in the order of operations of transformers' modeling_rope_utils, so
  that the angles position * inv_freq agree bit for bit: one ulp of a high frequency is
  1e-4 of a logit by position 9,000. The one step not reproduced exactly is the power:
  ours is correctly rounded, torch's vectorised powf can be 1 ulp off on rare entries.
  """
  f32 = np.float32
  # Sliding-window layers have their own, unscaled base (Gemma 3) or the global RoPE.
  own_base = kind == "local" and cfg.local_rope_theta is not None
  theta = cfg.local_rope_theta if own_base else cfg.rope_theta
  scaling = "none" if own_base else cfg.rope_scaling
  exponent = np.arange(0, cfg.head_dim, 2, dtype=f32) / f32(cfg.head_dim)
  power = (np.float64(f32(theta)) ** exponent.astype(np.float64)).astype(f32)
  inv = f32(1) / power
  if scaling == "linear":
    inv = inv / f32(cfg.rope_factor)
  elif scaling == "llama3":
    # Llama 3.1: long wavelengths divided by the factor, short ones kept, a smooth band
    # between. torch evaluates `scalar / tensor` as reciprocal(tensor) * scalar.
    factor, low, high = f32(cfg.rope_factor), cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
    old_len = cfg.rope_original_max_len
    wavelen = f32(1) / inv * f32(2 * math.pi)
    scaled = np.where(wavelen > f32(old_len / low), inv / factor, inv)
    smooth = (f32(1) / wavelen * f32(old_len) - f32(low)) / f32(high - low)
    mid = (f32(1) - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < f32(old_len / high)) & ~(wavelen > f32(old_len / low))
    inv = np.where(medium, mid, scaled)
  return inv


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
    self.gate_lora = lora.maybe(cfg, "gate_proj", (d,), ("embed",), (f,), ("mlp",), rngs)
    self.up_lora = lora.maybe(cfg, "up_proj", (d,), ("embed",), (f,), ("mlp",), rngs)
    self.down_lora = lora.maybe(cfg, "down_proj", (f,), ("mlp",), (d,), ("embed",), rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    dt = x.dtype
    gate = lora.add(self.gate_lora, jnp.einsum("bld,df->blf", x, self.gate[...].astype(dt)), x)
    up = lora.add(self.up_lora, jnp.einsum("bld,df->blf", x, self.up[...].astype(dt)), x)
    act = jax.nn.silu(gate) if self.activation == "silu" else jax.nn.gelu(gate, approximate=True)
    h = constrain(act * up, ("batch", "length", "act_mlp"))
    return lora.add(self.down_lora, jnp.einsum("blf,fd->bld", h, self.down[...].astype(dt)), h)
