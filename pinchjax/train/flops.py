"""Training FLOPs and the peak they are measured against, for MFU.

Convention (PaLM, appendix B): training FLOPs per token = 6 * N + 12 * L * H * Dh * S, where
N counts the parameters that take part in matrix multiplies (every parameter except the input
embedding table, which is a lookup, unless it is tied to the output projection), L layers,
H query heads of size Dh, S the sequence length (full S x S attention, causal mask ignored).
Every position of every sequence counts as a token, padding included, because it is computed.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

# Dense bf16 peak FLOP/s per chip from vendor datasheets, by jax `device_kind` prefix.
PEAK_FLOPS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
    "NVIDIA H100": 989e12,
    "NVIDIA H200": 989e12,
    "NVIDIA A100": 312e12,
}


def flops_per_token(matmul_params: int, num_layers: int, num_heads: int, head_dim: int,
                    seq_len: int) -> float:
  return 6.0 * matmul_params + 12.0 * num_layers * num_heads * head_dim * seq_len


def matmul_params(params, embedding_size: int, tied_embedding: bool) -> int:
  """Parameter count minus the input embedding table when it is only a lookup."""
  total = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  return total if tied_embedding else total - embedding_size


def measured_matmul_flops(device: jax.Device | None = None, size: int = 1024,
                          repeats: int = 7) -> float:
  """Peak FLOP/s of a float32 `size`^3 matmul on `device` (fastest of `repeats` runs): the
  peak used where no datasheet is."""
  device = device or jax.devices()[0]
  a = jax.device_put(jnp.ones((size, size), jnp.float32), device)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    mm(a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 / best


def peak_flops_per_device(device: jax.Device | None = None) -> tuple[float, str]:
  """(peak FLOP/s, where it came from): the datasheet for known accelerators, else measured."""
  device = device or jax.devices()[0]
  for prefix, peak in PEAK_FLOPS.items():
    if device.device_kind.startswith(prefix):
      return peak, f"datasheet bf16 peak of {device.device_kind}"
  return measured_matmul_flops(device), f"measured float32 matmul rate on {device.device_kind}"
