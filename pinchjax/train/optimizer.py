"""The optimiser: AdamW or Adafactor behind global-norm clipping, gin-configured."""
from __future__ import annotations

from typing import Any

import gin
import jax
import optax

from pinchjax.train import schedules

OPTIMIZERS = ("adamw", "adafactor")


def decay_mask(params: Any) -> Any:
  """Weight decay applies to matrices only: not to norm scales or biases (vectors)."""
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@gin.configurable
def make_optimizer(
    name: str = "adamw",
    schedule: optax.Schedule | None = None,
    b1: float = 0.9,
    b2: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    clip_norm: float | None = 1.0,
) -> optax.GradientTransformation:
  """Returns `clip_by_global_norm(clip_norm)` followed by AdamW or Adafactor.

  The learning rate is `schedule` (default: `schedules.make_schedule()` as gin binds it).
  For Adafactor, `weight_decay` is the decoupled rate scaled by the learning rate, and its own
  update clipping is left on (T5 defaults); `b1` > 0 adds momentum.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")
  schedule = schedule or schedules.make_schedule()
  if name == "adamw":
    tx = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                     mask=decay_mask)
  else:
    tx = optax.adafactor(schedule, momentum=b1 or None, weight_decay_rate=weight_decay or None,
                         weight_decay_mask=decay_mask)
  if clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
  return tx
