"""Orbax checkpoints of a train state, with the data position saved alongside.

A checkpoint step directory holds three items:
  params/     the model parameters (a plain nested dict; what inference and tuning load),
  optimizer/  {"step", "opt_state"},
  data/       JSON: the data iterator position that goes with this step.
Every restore goes into an abstract target (`jax.ShapeDtypeStruct`s carrying shardings), so a
checkpoint written on one mesh loads onto any other, each host reading only its shards.
Orbax coordinates hosts itself: arrays are written shard by shard, JSON by the primary host.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

ITEMS = ("params", "optimizer", "data")


class Checkpointer:
  """Keeps the `keep` most recent checkpoints; `should_save` says which steps to save."""

  def __init__(self, directory: str, save_every: int = 1000, keep: int | None = 3,
               async_save: bool = True, read_only: bool = False):
    self.directory = os.path.abspath(directory)
    if read_only and not os.path.isdir(self.directory):
      raise FileNotFoundError(f"no checkpoint directory {self.directory}")
    self.save_every = save_every
    # cleanup_tmp_directories: a save cut short by SIGKILL leaves a temporary step directory.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, enable_async_checkpointing=async_save, create=not read_only,
        read_only=read_only, cleanup_tmp_directories=not read_only)
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def should_save(self, step: int) -> bool:
    return step % self.save_every == 0

  def save(self, state: dict[str, Any], data_state: dict[str, Any]) -> None:
    """Saves `state` (at its own step) with `data_state`; returns once arrays are copied."""
    step = int(jax.device_get(state["step"]))
    self._manager.save(step, force=True, args=ocp.args.Composite(
        params=ocp.args.StandardSave(state["params"]),
        optimizer=ocp.args.StandardSave({"step": state["step"],
                                         "opt_state": state["opt_state"]}),
        data=ocp.args.JsonSave(data_state)))

  def restore(self, target: dict[str, Any], step: int | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restores (state, data_state) into the abstract `target` state; latest step by default."""
    step = self._resolve(step)
    out = self._manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(target["params"]),
        optimizer=ocp.args.StandardRestore({"step": target["step"],
                                            "opt_state": target["opt_state"]}),
        data=ocp.args.JsonRestore()))
    state = {"step": out["optimizer"]["step"], "params": out["params"],
             "opt_state": out["optimizer"]["opt_state"]}
    return state, dict(out["data"])

  def data_state(self, step: int | None = None) -> dict[str, Any]:
    """The data position saved with a step (latest by default)."""
    out = self._manager.restore(self._resolve(step), args=ocp.args.Composite(
        data=ocp.args.JsonRestore()))
    return dict(out["data"])

  def restore_params(self, target: Any, step: int | None = None) -> Any:
    """Restores only the parameters into the abstract `target` (latest step by default)."""
    out = self._manager.restore(self._resolve(step), args=ocp.args.Composite(
        params=ocp.args.StandardRestore(target)))
    return out["params"]

  def wait(self) -> None:
    """Blocks until an asynchronous save has been committed to disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def _resolve(self, step: int | None) -> int:
    step = self.latest_step() if step is None else step
    if step is None or step not in self._manager.all_steps():
      raise FileNotFoundError(f"no checkpoint{'' if step is None else f' for step {step}'} "
                              f"in {self.directory}; available: {self.all_steps()}")
    return step


def load_params(directory: str, target: Any, step: int | None = None) -> Any:
  """Loads only the parameters of a pinchjax checkpoint (latest step by default).

  `directory` is a run's checkpoint directory; `target` the abstract (sharded) parameters.
  This is how tuning starts from a pretrained run and how inference loads a tuned model.
  """
  ckpt = Checkpointer(directory, async_save=False, read_only=True)
  try:
    return ckpt.restore_params(target, step)
  finally:
    ckpt.close()


def save_params(directory: str, params: Any, step: int = 0) -> None:
  """Writes `params` (a plain nested dict) as step `step` of a checkpoints directory that
  holds parameters only: what a conversion writes and `load_params` reads."""
  manager = ocp.CheckpointManager(directory, item_names=("params",),
                                  options=ocp.CheckpointManagerOptions(create=True))
  manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(params)))
  manager.wait_until_finished()
  manager.close()
