"""The jitted train and eval steps over a pure train state {step, params, opt_state}.

Parameters travel as a plain nested dict (`nnx.to_pure_dict`), so the state is an ordinary
pytree for optax, `jax.jit` shardings and orbax; the module is rebuilt from its graph
definition inside the step. With LoRA, `params` are the adapters only and the frozen base
weights are a separate, non-donated argument: they get no gradients and no optimiser slots.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from pinchjax.model import lora
from pinchjax.checkpoints import adapters
from pinchjax.train import loss as loss_lib

Batch = dict[str, jax.Array]
State = dict[str, Any]
StepFn = Callable[..., tuple[State, dict[str, jax.Array]]]


def logits_fn(graphdef: nnx.GraphDef, params: Any, batch: Batch) -> jax.Array:
  """Teacher-forced logits of the model `graphdef` with `params` on a decoder batch."""
  model = nnx.merge(graphdef, nnx.State(params))
  logits, _ = model(batch["decoder_input_tokens"], batch["decoder_positions"],
                    segment_ids=batch["decoder_segment_ids"])
  return logits


# Which fusions XLA:CPU hands to YNNPACK: the matrix multiplies only. By default it also takes
# elementwise and reduction fusions, which XLA's own loop emitter runs for less CPU time in a
# train step: on a 2-core AMD EPYC host, one process alternating the two compilations of the
# bench's train step (bench/train_throughput.py defaults) used 491 vs 540 ms of CPU time per
# step (medians 496 vs 545, 5 rounds). The matrix multiplies stay with YNNPACK: XLA's dot
# emitter, XNNPACK or oneDNN for them used 533-545 ms.
_CPU_YNN_FUSIONS = ("xla_cpu_experimental_ynn_fusion_type", "LIBRARY_FUSION_TYPE_DOT")


def compiler_options() -> dict[str, str]:
  """XLA options to jit the train step with on this backend (none off CPU); an option that
  XLA_FLAGS already sets is left to it."""
  name, value = _CPU_YNN_FUSIONS
  if jax.default_backend() != "cpu" or f"--{name}=" in os.environ.get("XLA_FLAGS", ""):
    return {}
  return {name: value}


def init_state(params: Any, tx: optax.GradientTransformation) -> State:
  return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}


def split_microbatches(batch: Batch, n: int) -> Batch:
  """[B, ...] -> [n, B/n, ...] taking rows strided, so every device keeps its own rows."""
  def split(x):
    if x.shape[0] % n:
      raise ValueError(f"batch size {x.shape[0]} is not divisible by {n} microbatches")
    return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)
  return jax.tree.map(split, batch)


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, z_loss: float = 0.0,
                    microbatches: int = 1, dropout_seed: int | None = None) -> StepFn:
  """`train_step(state, batch, frozen=None)`: one optimiser step on the token-weighted mean
  loss of the whole (global) batch; `frozen` holds the parameters not trained (LoRA's base).

  With `microbatches` > 1 the gradients of the microbatches are summed in a `lax.scan` and
  divided by the total weight at the end, so the update equals the single-batch one.
  `dropout_seed` turns LoRA dropout on, with a key of (seed, step, microbatch).
  """
  def sums(params, frozen, batch, key):
    with lora.dropout_key(key) if key is not None else contextlib.nullcontext():
      logits = logits_fn(graphdef, adapters.merge(frozen, params), batch)
    ce, z, w = loss_lib.cross_entropy(logits, batch["decoder_target_tokens"],
                                      batch["decoder_loss_weights"], z_loss)
    return ce + z, (ce, z, w)

  grad_fn = jax.value_and_grad(sums, has_aux=True)

  def accumulate(params, frozen, batch, key):
    if microbatches == 1:
      (_, aux), grads = grad_fn(params, frozen, batch, key)
      return grads, aux
    def body(carry, xs):
      mb, i = xs
      (_, aux), grads = grad_fn(params, frozen, mb,
                                None if key is None else jax.random.fold_in(key, i))
      return jax.tree.map(jnp.add, carry, (grads, aux)), None
    zeros = (jax.tree.map(jnp.zeros_like, params), (jnp.zeros(()),) * 3)
    out, _ = jax.lax.scan(body, zeros, (split_microbatches(batch, microbatches),
                                        jnp.arange(microbatches)))
    return out

  def train_step(state: State, batch: Batch, frozen: Any = None):
    key = (None if dropout_seed is None
           else jax.random.fold_in(jax.random.key(dropout_seed), state["step"]))
    grads, (ce, z, w) = accumulate(state["params"], frozen, batch, key)
    denom = jnp.maximum(w, 1.0)
    grads = jax.tree.map(lambda g: g / denom, grads)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    # One reduction over the new parameters lets the loop refuse to save a broken state.
    metrics = {"loss": ce / denom, "z_loss": z / denom, "grad_norm": optax.tree.norm(grads),
               "learning_rate": schedule(state["step"]), "loss_tokens": w,
               "params_finite": jnp.isfinite(optax.tree.norm(params))}
    return {"step": state["step"] + 1, "params": params, "opt_state": opt_state}, metrics

  return train_step


def make_eval_step(graphdef: nnx.GraphDef) -> Callable[[Any, Batch], tuple[jax.Array, jax.Array]]:
  """Teacher-forced (cross-entropy sum, weight sum) of a batch; sums add across batches."""
  def eval_step(params, batch):
    logits = logits_fn(graphdef, params, batch)
    ce, _, w = loss_lib.cross_entropy(logits, batch["decoder_target_tokens"],
                                      batch["decoder_loss_weights"])
    return ce, w
  return eval_step
