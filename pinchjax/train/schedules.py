"""Learning-rate schedules: linear warmup, then cosine, linear or constant decay."""
from __future__ import annotations

import gin
import optax

DECAYS = ("cosine", "linear", "constant", "rsqrt")


@gin.configurable
def make_schedule(
    peak_learning_rate: float = 1e-3,
    warmup_steps: int = 0,
    decay: str = "cosine",
    total_steps: int | None = None,
    final_fraction: float = 0.1,
) -> optax.Schedule:
  """Warms up linearly from 0 to `peak_learning_rate`, then decays over the remaining steps.

  `final_fraction` is the learning rate at `total_steps` as a fraction of the peak (cosine and
  linear); `rsqrt` decays as sqrt(warmup / step) (T5's inverse square root after warmup).
  The trainer passes `total_steps` = its number of steps.
  """
  if total_steps is None:
    raise ValueError("make_schedule needs total_steps")
  if decay not in DECAYS:
    raise ValueError(f"unknown decay {decay!r}; expected one of {DECAYS}")
  if warmup_steps < 0:
    raise ValueError(f"warmup_steps={warmup_steps} must be >= 0")
  peak, end = peak_learning_rate, peak_learning_rate * final_fraction
  decay_steps = max(total_steps - warmup_steps, 1)
  if decay == "cosine":
    after = optax.cosine_decay_schedule(peak, decay_steps, alpha=final_fraction)
  elif decay == "linear":
    after = optax.linear_schedule(peak, end, decay_steps)
  elif decay == "constant":
    after = optax.constant_schedule(peak)
  else:
    offset = max(warmup_steps, 1)
    after = lambda step: peak * (offset / (step + offset)) ** 0.5
  if warmup_steps == 0:
    return after
  # Warmup starts at peak/warmup rather than 0 so that step 0 already moves the weights.
  warmup = optax.linear_schedule(peak / warmup_steps, peak, warmup_steps - 1) \
      if warmup_steps > 1 else optax.constant_schedule(peak)
  return optax.join_schedules([warmup, after], [warmup_steps])
