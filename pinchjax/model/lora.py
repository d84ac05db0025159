"""LoRA adapters on the attention and MLP projections (Hu et al., 2021), peft's conventions.

A projection W gains `scale * B(A(dropout(x)))` with scale = alpha / rank; A starts uniform in
+-1/sqrt(fan_in) (peft's kaiming_uniform(a=sqrt(5))), B at zero, so an untrained adapter
leaves the model unchanged. Written here rather than with flax's `nnx.LoRA`, which adapts a
2-D kernel [in, out]: pinchjax's projections are einsum weights with head axes (q [embed,
heads, head_dim], o [heads, head_dim, embed]) stacked on a `layers` axis under scan, and a
LoRA that keeps those axes lets A carry the weight's input logical axes and B its output
ones, so both shard like the weight they adapt. The variables are flax's `nnx.LoRAParam`,
so `nnx.LoRAParam` filters select the adapters.

Dropout (training only) draws from a key that the train step activates with `dropout_key`;
each layer folds its index in (`layer_key`), each projection its name.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import zlib
from typing import Iterator

import jax
import jax.numpy as jnp
from flax import nnx

from pinchjax.model.config import LORA_TARGETS, ModelConfig
from pinchjax.model.sharding import LogicalAxes

TARGETS = LORA_TARGETS  # peft's `target_modules` names of Llama / Qwen 2 / Gemma 3

_KEY: contextvars.ContextVar[jax.Array | None] = contextvars.ContextVar(
    "pinchjax_lora_dropout_key", default=None)


@contextlib.contextmanager
def _key(key: jax.Array | None) -> Iterator[None]:
  token = _KEY.set(key)
  try:
    yield
  finally:
    _KEY.reset(token)


def dropout_key(key: jax.Array) -> contextlib.AbstractContextManager[None]:
  """Turns LoRA dropout on, drawing from `key`, for the model code traced in this context."""
  return _key(key)


def layer_key(layer: int | jax.Array) -> contextlib.AbstractContextManager[None]:
  """Folds the layer index into the active dropout key (a no-op without one)."""
  key = _KEY.get()
  return _key(None if key is None else jax.random.fold_in(key, layer))


class LoRA(nnx.Module):
  """The low-rank update of one projection: x [..., *in_shape] -> [..., *out_shape]."""

  def __init__(self, target: str, in_shape: tuple[int, ...], in_axes: LogicalAxes,
               out_shape: tuple[int, ...], out_axes: LogicalAxes, rank: int, alpha: float,
               dropout: float, dtype: jnp.dtype, *, rngs: nnx.Rngs):
    bound = 1.0 / math.sqrt(math.prod(in_shape))
    a = jax.random.uniform(rngs.params(), in_shape + (rank,), dtype, -bound, bound)
    # The rank axis has no logical name: it is small and stays replicated.
    self.a = nnx.LoRAParam(a, logical_axes=tuple(in_axes) + (None,))
    self.b = nnx.LoRAParam(jnp.zeros((rank,) + out_shape, dtype),
                           logical_axes=(None,) + tuple(out_axes))
    self.scale = alpha / rank
    self.dropout = dropout
    self.tag = zlib.crc32(target.encode())  # a stable per-projection dropout stream

  def __call__(self, x: jax.Array) -> jax.Array:
    a = self.a[...].astype(x.dtype)
    key = _KEY.get()
    if self.dropout and key is not None:
      keep = jax.random.bernoulli(jax.random.fold_in(key, self.tag), 1.0 - self.dropout,
                                  x.shape)
      x = jnp.where(keep, x / (1.0 - self.dropout), 0).astype(x.dtype)
    h = jnp.tensordot(x, a, axes=a.ndim - 1)
    return jnp.tensordot(h, self.b[...].astype(x.dtype), axes=1) * jnp.asarray(self.scale,
                                                                                x.dtype)


def maybe(cfg: ModelConfig, target: str, in_shape: tuple[int, ...], in_axes: LogicalAxes,
          out_shape: tuple[int, ...], out_axes: LogicalAxes, rngs: nnx.Rngs) -> LoRA | None:
  """The adapter of `target` if cfg adapts it, else None."""
  if not cfg.lora_rank or target not in cfg.lora_targets:
    return None
  return LoRA(target, in_shape, in_axes, out_shape, out_axes, cfg.lora_rank, cfg.lora_alpha,
              cfg.lora_dropout, cfg.jnp_param_dtype, rngs=rngs)


def add(adapter: LoRA | None, y: jax.Array, x: jax.Array) -> jax.Array:
  """y (the projection of x) plus the adapter's update, if there is an adapter."""
  return y if adapter is None else y + adapter(x)


def merge_into_base(params: dict, cfg: ModelConfig) -> dict:
  """Parameters (a pure dict of a LoRA model `cfg`) with every adapter folded into the weight
  it adapts, W + alpha / rank * A B, and removed: the plain model computing the same function
  (its config: cfg.replace(lora_rank=0))."""
  scale = cfg.lora_alpha / cfg.lora_rank
  out = {k: merge_into_base(v, cfg) if isinstance(v, dict) else v
         for k, v in params.items() if not (isinstance(k, str) and k.endswith("_lora"))}
  for key, adapter in params.items():
    if isinstance(key, str) and key.endswith("_lora"):
      w, a, b = out[key[:-len("_lora")]], adapter["a"], adapter["b"]
      update = lambda a, b: jnp.tensordot(a.astype(jnp.float32), b.astype(jnp.float32), 1)
      if a.ndim + b.ndim - 2 > w.ndim:  # stacked layers: one product per layer
        update = jax.vmap(update)
      out[key[:-len("_lora")]] = (w.astype(jnp.float32) + scale * update(a, b)
                                  ).astype(w.dtype)
  return out
