"""`train`: tuning or pretraining a pinchjax Transformer on a SeqIO mixture or task.

    from pinchjax.train.trainer import train
    result = train(model_dir="runs/x", mixture_or_task_name="toy_pinch_p10", num_steps=300)

Every argument is gin-configurable (`train.num_steps = 300`; see gin/runs/tune.gin). A run
lives in `model_dir`:
  checkpoints/<step>/   orbax checkpoints (params, optimizer, data position), last K kept
  checkpoints/model_config.json   the architecture (pinchjax.checkpoints.load.load_model reads it)
  checkpoints/vocabulary.json     the vocabulary (copied beside it) and chat template
  metrics.jsonl         one line per train step and per evaluation (pinchjax.train.metrics)
  events.out.tfevents.*  TensorBoard event files (clu metric writers)
  config.gin            the gin configuration the run was started with
With `lora_rank` > 0 only LoRA adapters are trained and checkpointed, on a frozen base
(init_checkpoint_dir or init_hf_dir) that `checkpoints/lora_base.json` names (see
pinchjax.checkpoints.adapters). Running `train` again on the same `model_dir` resumes from the
latest checkpoint, with the data stream at the same position, and reproduces the
uninterrupted run's losses exactly;
metrics.jsonl is cut back to the restored step first, so it reads as one uninterrupted run.
SIGTERM at any moment returns `preempted=True` after saving a checkpoint if steps ran since
the last save (during set-up: nothing to save; the stop points are after each set-up phase
and after every step, or on several processes every `preemption_sync_every` steps). A non-finite loss, gradient or parameter raises `NonFiniteError`
before anything non-finite is saved; an unwritable `model_dir` raises `RunDirectoryError`.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Sequence

import gin
import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from pinchjax import atomic_file
from pinchjax.checkpoints import adapters, checkpointer, hf, load, metadata
from pinchjax.data import features, pipeline
from pinchjax.model import hf_config
from pinchjax.model.config import ModelConfig
from pinchjax.model.sharding import Partitioner
from pinchjax.model.transformer import Transformer
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import partition
from pinchjax.train import distributed, evaluation, flops
from pinchjax.train import metrics as metrics_lib
from pinchjax.train import optimizer, preemption, schedules, step as step_lib


class RunDirectoryError(OSError):
  """`model_dir` cannot be created or written; the message ends with the path (gin re-raises
  errors of configurables as a proxy that keeps the message but not `filename`)."""


class NonFiniteError(FloatingPointError):
  """Training produced a NaN or Inf; the last checkpoint on disk is still finite."""


@dataclasses.dataclass
class TrainResult:
  step: int
  loss: float | None  # the last train step's loss (None if no step ran)
  eval_losses: dict[str, float]  # "eval/loss/<lang or task>" -> loss, from the last eval
  preempted: bool
  checkpoint_dir: str


@dataclasses.dataclass
class _Setup:
  """What the loop needs: the partitioner, the state's shardings and the jitted steps."""
  partitioner: Partitioner
  graphdef: nnx.GraphDef
  state_shardings: dict[str, Any]  # params: the trained ones (LoRA: the adapters)
  target: dict[str, Any]  # abstract state with shardings (restore target)
  batch_sharding: NamedSharding
  mask: dict[str, Any]  # True on trained leaves of the full parameter tree
  frozen_target: dict[str, Any]  # abstract frozen parameters with shardings ({}: none)


def _setup(cfg: ModelConfig, tx: optax.GradientTransformation, seed: int) -> _Setup:
  partitioner = Partitioner.create(mesh_lib.make_mesh())
  graphdef, abstract_params = partition.abstract_model(cfg, seed)
  mask = (adapters.trainable_mask(abstract_params) if cfg.lora_rank
          else jax.tree.map(lambda _: True, nnx.to_pure_dict(abstract_params)))
  param_shardings, frozen_shardings = adapters.split(
      nnx.to_pure_dict(partitioner.shardings(abstract_params)), mask)
  abstract_params, abstract_frozen = adapters.split(nnx.to_pure_dict(abstract_params), mask)
  abstract_state = jax.eval_shape(lambda p: step_lib.init_state(p, tx), abstract_params)
  replicated = NamedSharding(partitioner.mesh, PartitionSpec())
  # Optimiser slots shaped like their parameter share its sharding; the rest (counts,
  # Adafactor's factored rows/columns) is small and replicated.
  opt_shardings = optax.tree_map_params(
      tx, lambda slot, sharding, p: sharding if slot.shape == p.shape else replicated,
      abstract_state["opt_state"], param_shardings, abstract_params,
      transform_non_params=lambda _: replicated)
  shardings = {"step": replicated, "params": param_shardings, "opt_state": opt_shardings}
  target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        abstract_state, shardings)
  batch_sharding = partitioner.sharding(("batch", "length"))
  frozen_target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                               abstract_frozen, frozen_shardings)
  return _Setup(partitioner, graphdef, shardings, target, batch_sharding, mask, frozen_target)


def _check_batch(setup: _Setup, batch_size: int, microbatches: int) -> None:
  """Each microbatch must split evenly over the mesh axes the batch is sharded on."""
  mesh = setup.partitioner.mesh
  shards = math.prod(mesh.shape[a] for a in dict(setup.partitioner.rules).get("batch", ()))
  if batch_size % microbatches or (batch_size // microbatches) % shards:
    raise ValueError(f"batch_size {batch_size} / microbatches {microbatches} must be a whole "
                     f"multiple of the {shards} batch shards of mesh {dict(mesh.shape)}")


def _initial_params(cfg: ModelConfig, setup: _Setup, seed: int, init_checkpoint_dir: str | None,
                    init_hf_dir: str | None) -> Any:
  """Parameters to start from: a pinchjax checkpoint, a Hugging Face checkpoint, or random;
  with LoRA, the adapters' initial values (the base is loaded by `load.load_base`)."""
  if cfg.lora_rank:
    # Only the adapters are outputs, so XLA drops the random base this would also draw.
    def init():
      model = Transformer(cfg, rngs=nnx.Rngs(seed))
      return adapters.split(nnx.to_pure_dict(nnx.state(model)), setup.mask)[0]
    return jax.jit(init, out_shardings=setup.state_shardings["params"])()
  if init_checkpoint_dir:
    return checkpointer.load_params(init_checkpoint_dir, setup.target["params"])
  if init_hf_dir:
    # The run's layout (stacked when scanning) decides how the HF tensors are arranged.
    _, params = hf.load_hf(init_hf_dir, setup.partitioner, dtype=cfg.param_dtype,
                           scan_layers=cfg.scan_layers)
    return nnx.to_pure_dict(params)
  model, _ = partition.sharded_init(cfg, setup.partitioner, seed)
  return nnx.to_pure_dict(nnx.state(model))


def _lora_base(checkpoint_dir: str, init_checkpoint_dir: str | None, init_hf_dir: str | None,
               primary: bool) -> dict[str, Any]:
  """The base reference of a LoRA run: recorded on its first start (a pinchjax base at its
  latest step), checked against the recorded one on a resume."""
  recorded = os.path.join(checkpoint_dir, adapters.BASE_REF)
  if os.path.isfile(recorded):
    ref = adapters.read_reference(checkpoint_dir)
    given = os.path.abspath(init_hf_dir or init_checkpoint_dir or "")
    if given != ref["path"]:
      raise ValueError(f"{recorded}: the run's LoRA base is {ref['path']}, not {given}")
    return ref
  step = None
  if init_checkpoint_dir:
    base = checkpointer.Checkpointer(init_checkpoint_dir, read_only=True)
    step = base.latest_step()
    base.close()
  ref = adapters.base_reference(init_checkpoint_dir, init_hf_dir, step)
  if primary:
    adapters.save_reference(checkpoint_dir, ref)
  return ref


def _check_finite(step: int, m: dict[str, Any], ckpt: checkpointer.Checkpointer) -> None:
  bad = [k for k in ("loss", "grad_norm") if not np.isfinite(m[k])]
  if bad or not m["params_finite"]:
    what = ", ".join(f"{k} = {m[k]}" for k in bad) or "the updated parameters are not finite"
    raise NonFiniteError(
        f"non-finite training at step {step}: {what}. Stopped without saving it; the last "
        f"good checkpoint is step {ckpt.latest_step()} in {ckpt.directory}")


@gin.configurable
def train(
    model_dir: str = gin.REQUIRED,
    mixture_or_task_name: str = gin.REQUIRED,
    num_steps: int = gin.REQUIRED,
    batch_size: int = 32,
    sequence_length: int = 512,
    seed: int = 0,
    model_config: ModelConfig | None = None,
    init_checkpoint_dir: str | None = None,
    init_hf_dir: str | None = None,
    microbatches: int = 1,
    z_loss: float = 0.0,
    checkpoint_every: int = 1000,
    keep_checkpoints: int | None = 3,
    async_checkpointing: bool = True,
    log_every: int = 10,
    eval_tasks: Sequence[str] = (),
    eval_every: int = 0,
    eval_split: str = "validation",
    eval_batch_size: int | None = None,
    preemption_sync_every: int = 10,
    lora_rank: int = 0,
    lora_alpha: float = 16.0,
    lora_dropout: float = 0.0,
    lora_targets: Sequence[str] = ModelConfig.lora_targets,
) -> TrainResult:
  """Trains for `num_steps` optimiser steps in `model_dir`, resuming if it has checkpoints.

  Args:
    model_dir: the run directory (checkpoints, metrics, config).
    mixture_or_task_name: the registered SeqIO mixture or task to train on ("train" split).
    num_steps: total optimiser steps (also the schedule's length).
    batch_size: global batch, in packed rows of `sequence_length` tokens.
    sequence_length: decoder length (prompt + response).
    seed: parameter init and data order.
    model_config: the architecture (default: `ModelConfig()` as gin binds it; with
      `init_hf_dir`, the checkpoint's config.json with the gin-bound ModelConfig.dtype and
      .param_dtype).
    init_checkpoint_dir: start from the latest params of this pinchjax checkpoint directory
      (e.g. a pretraining run's `<model_dir>/checkpoints`), with a fresh optimiser.
    init_hf_dir: start from a Hugging Face checkpoint directory (safetensors).
    microbatches: gradient accumulation: the batch is split into this many microbatches.
    z_loss: coefficient of the log(Z)^2 auxiliary loss (0: off).
    checkpoint_every: save every this many steps; the last step is always saved.
    keep_checkpoints: keep the most recent K checkpoints (None: all).
    async_checkpointing: write checkpoints in the background.
    log_every: write a progress line (and check for NaN/Inf) every this many steps; metrics
      of every step go to metrics.jsonl and TensorBoard.
    eval_tasks: tasks or mixtures (a mixture: each of its tasks) to evaluate on; labelled by
      language code when the task name ends in one.
    eval_every: evaluate every this many steps (0: only at the end).
    eval_split: the split evaluated.
    eval_batch_size: default `batch_size`.
    preemption_sync_every: on several processes, agree on a SIGTERM every this many steps
      (and at every checkpoint and the last step) rather than after every step, which would
      block each host on the others once per step; a SIGTERM then stops the run within this
      many steps, which must fit in the preemption grace period (30 s on Cloud TPU). One
      process agrees with itself at no cost: it checks after every step.
    lora_rank: > 0: tune LoRA adapters of this rank on the frozen base (init_checkpoint_dir
      or init_hf_dir) instead of every parameter.
    lora_alpha: the adapters' scale is lora_alpha / lora_rank.
    lora_dropout: dropout on the adapters' input.
    lora_targets: the adapted projections, by peft's names (q_proj, k_proj, v_proj, o_proj,
      gate_proj, up_proj, down_proj).
  """
  # gin passes an unset `X = %gin.REQUIRED` macro through as its sentinel unless the config is
  # finalized (the CLI does not finalize), so name the missing value here.
  for name, value in (("model_dir", model_dir), ("mixture_or_task_name", mixture_or_task_name),
                      ("num_steps", num_steps)):
    if value is gin.REQUIRED:
      raise ValueError(f"train.{name} is required: the run file binds it to a macro "
                       f"(MODEL_DIR, MIXTURE, TRAIN_STEPS); set it, e.g. --gin.MIXTURE=\"'name'\"")
  if init_checkpoint_dir and init_hf_dir:
    raise ValueError("give init_checkpoint_dir or init_hf_dir, not both")
  with preemption.PreemptionGuard() as guard:
    distributed.initialize()
    cfg = model_config or ModelConfig()
    if init_hf_dir and model_config is None:
      cfg = hf_config.from_hf(init_hf_dir, dtype=cfg.dtype, param_dtype=cfg.param_dtype)
    if cfg.lora_rank:
      raise ValueError("the base model config has lora_rank set; LoRA is a train setting "
                       "(train.lora_rank) on a full base")
    cfg = cfg.replace(lora_rank=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                      lora_targets=tuple(lora_targets))
    ckpt = _open_run(model_dir, cfg, checkpoint_every, keep_checkpoints, async_checkpointing)
    try:
      _stop_point(guard)
      schedule = schedules.make_schedule(total_steps=num_steps)
      tx = optimizer.make_optimizer(schedule=schedule)
      setup = _setup(cfg, tx, seed)
      _check_batch(setup, batch_size, microbatches)
      frozen = {}
      if cfg.lora_rank:
        ref = _lora_base(ckpt.directory, init_checkpoint_dir, init_hf_dir,
                         jax.process_index() == 0)
        frozen = load.load_base(ref, cfg, setup.frozen_target, setup.partitioner)
      print(f"loading {mixture_or_task_name}", flush=True)
      data = pipeline.get_dataset(mixture_or_task_name, "train", sequence_length, batch_size, seed,
                                  shard_index=jax.process_index(), num_shards=jax.process_count())
      if jax.process_index() == 0:  # the vocabulary and chat template: checkpoints need no flags
        metadata.save_tokenization(ckpt.directory, data.vocabulary, data.chat_template)
      _stop_point(guard)
      if ckpt.latest_step() is not None:
        print(f"restoring step {ckpt.latest_step()} from {ckpt.directory}", flush=True)
        state, data_state = ckpt.restore(setup.target)
        data.restore(data_state["train"])
        print(f"resumed from step {int(state['step'])} of {ckpt.directory}", flush=True)
      else:
        params = _initial_params(cfg, setup, seed, init_checkpoint_dir, init_hf_dir)
        state = jax.jit(lambda p: step_lib.init_state(p, tx),
                        out_shardings=setup.state_shardings)(params)
      _stop_point(guard)
      fpt = flops.flops_per_token(
          flops.matmul_params(adapters.merge(frozen, state["params"]),
                              cfg.vocab_size * cfg.d_model, cfg.tie_embeddings),
          cfg.num_layers, cfg.num_heads, cfg.head_dim, sequence_length)
      peak, peak_source = flops.peak_flops_per_device()
      print(f"FLOPs per token {fpt:.4g} (6*N + 12*L*H*Dh*S); peak {peak:.4g} FLOP/s per device "
            f"({peak_source}) x {jax.device_count()} devices", flush=True)
      frozen_shardings = jax.tree.map(lambda a: a.sharding, setup.frozen_target)
      # The model's activation sharding constraints apply while steps are traced in here.
      with setup.partitioner.activate():
        train_step = jax.jit(
            step_lib.make_train_step(setup.graphdef, tx, schedule, z_loss, microbatches,
                                     seed if cfg.lora_dropout else None),
            in_shardings=(setup.state_shardings, setup.batch_sharding, frozen_shardings),
            out_shardings=(setup.state_shardings,
                           NamedSharding(setup.partitioner.mesh, PartitionSpec())),
            donate_argnums=0, compiler_options=step_lib.compiler_options())
        print("compiling the train step", flush=True)
        # Compiled ahead of the loop (the loop's calls reuse it) so that compilation is a set-up
        # phase with its own stop point rather than part of the first step.
        batch = {k: jax.ShapeDtypeStruct((batch_size, sequence_length), np.int32,
                                         sharding=setup.batch_sharding) for k in features.FEATURES}
        train_step.lower(state, batch, frozen).compile()
        evaluate = evaluation.Evaluator(
            setup.graphdef, adapters.merge(frozen_shardings, setup.state_shardings["params"]),
            setup.batch_sharding, eval_tasks,
            eval_split, sequence_length, eval_batch_size or batch_size) if eval_tasks else None
        _stop_point(guard)
        log = metrics_lib.MetricsLogger(model_dir, num_steps, int(state["step"]))
        tokens_per_step = batch_size * sequence_length
        try:
          return _loop(state, frozen, data, train_step, evaluate, ckpt, log,
                       setup.batch_sharding, guard,
                       num_steps=num_steps, log_every=log_every, eval_every=eval_every,
                       preemption_sync_every=preemption_sync_every,
                       tokens_per_step=tokens_per_step,
                       mfu_per_step_per_sec=tokens_per_step * fpt / (peak * jax.device_count()))
        finally:
          log.close()
    except _PreemptedBeforeTraining:
      saved = ckpt.latest_step()
      what = (f"step {saved} is already saved in {ckpt.directory}; rerun the same command to "
              f"resume from it" if saved is not None else
              "no step had run; rerun the same command to start the run")
      print(f"preempted before training: nothing to save, {what}", flush=True)
      return TrainResult(saved or 0, None, {}, True, ckpt.directory)
    finally:
      ckpt.close()


class _PreemptedBeforeTraining(Exception):
  """SIGTERM during set-up: no step ran, so nothing is newer than what is on disk."""


def _stop_point(guard: preemption.PreemptionGuard) -> None:
  """Ends set-up if any host got SIGTERM; all hosts call this at the same points."""
  if distributed.any_process(guard.requested):
    raise _PreemptedBeforeTraining()


def _open_run(model_dir: str, cfg: ModelConfig, checkpoint_every: int,
              keep_checkpoints: int | None, async_checkpointing: bool
              ) -> checkpointer.Checkpointer:
  """Creates the run directory (config.gin, model_config.json) and its Checkpointer.

  Comes first, so an unwritable or blocked `model_dir` fails in seconds, naming the path.
  """
  if jax.process_index() == 0:
    try:
      os.makedirs(model_dir, exist_ok=True)
      atomic_file.write(os.path.join(model_dir, "config.gin"), [gin.config_str()])
      metadata.save_model_config(os.path.join(model_dir, "checkpoints"), cfg)
    except OSError as e:
      raise RunDirectoryError(e.errno, f"cannot write the run directory train.model_dir "
                              f"({e.strerror})", e.filename or model_dir) from e
  return checkpointer.Checkpointer(os.path.join(model_dir, "checkpoints"), checkpoint_every,
                                 keep_checkpoints, async_checkpointing)


def _loop(state: dict[str, Any], frozen: dict[str, Any], data: pipeline.DatasetIterator,
          train_step: step_lib.StepFn,
          evaluate: evaluation.Evaluator | None, ckpt: checkpointer.Checkpointer,
          log: metrics_lib.MetricsLogger, batch_sharding: NamedSharding,
          guard: preemption.PreemptionGuard, *, num_steps: int,
          log_every: int, eval_every: int, preemption_sync_every: int, tokens_per_step: int,
          mfu_per_step_per_sec: float) -> TrainResult:
  """The step loop (`frozen`: the parameters not trained, LoRA's base); metrics stay on
  device until a flush (every `log_every` steps, before every checkpoint and at the end),
  where they are checked for NaN/Inf and written.
  `mfu_per_step_per_sec` is the MFU that one step per second would be."""
  step = int(state["step"])
  pending: list[tuple[int, dict[str, jax.Array]]] = []
  last: dict[str, float] = {}
  eval_losses: dict[str, float] = {}
  clock = [time.perf_counter(), step]

  def flush() -> None:
    nonlocal last
    if not pending:
      return
    host = jax.device_get(pending)
    pending.clear()
    now = time.perf_counter()
    rate = (host[-1][0] - clock[1]) / max(now - clock[0], 1e-9)
    clock[:] = [now, host[-1][0]]
    for s, m in host:
      _check_finite(s, m, ckpt)
      last = {k: float(v) for k, v in m.items() if k != "params_finite"}
      if s == host[-1][0]:
        last.update(steps_per_sec=rate, tokens_per_sec=rate * tokens_per_step,
                    mfu=rate * mfu_per_step_per_sec)
      log.write(s, "train", last)
    log.progress(host[-1][0], last)

  while step < num_steps:
    batch = distributed.global_batch(next(data), batch_sharding)
    state, m = train_step(state, batch, frozen)
    step += 1
    pending.append((step, m))
    # Agreeing is a blocking all-gather on several processes: only at sync points there.
    sync = (not distributed.multi_process() or step % preemption_sync_every == 0
            or ckpt.should_save(step) or step == num_steps)
    preempted = sync and distributed.any_process(guard.requested)
    if preempted or step % log_every == 0 or ckpt.should_save(step) or step == num_steps:
      flush()
    if ckpt.should_save(step) or preempted or step == num_steps:
      ckpt.save(state, {"train": data.state()})
    if evaluate and ((eval_every and step % eval_every == 0) or step == num_steps):
      eval_losses = evaluate(adapters.merge(frozen, state["params"]))
      log.write(step, "eval", eval_losses)
      print("  ".join(f"{k} {v:.4f}" for k, v in eval_losses.items()), flush=True)
    if preempted:
      ckpt.wait()
      print(f"preempted: saved step {step} in {ckpt.directory}; rerun the same command to "
            f"resume from it", flush=True)
      return TrainResult(step, last.get("loss"), eval_losses, True, ckpt.directory)
  return TrainResult(step, last.get("loss"), eval_losses, False, ckpt.directory)
