"""LoRA vs full tuning: trainable parameters, optimiser-state bytes, peak memory, tokens/s.

    python bench/lora.py [--layers 4 --d-model 512 --ranks 8 64 ...]

Each setting (full tuning, then LoRA at each rank on q/k/v/o/gate/up/down) runs in its own
subprocess, so its peak resident memory (getrusage maxrss) is its own: the same Llama-shaped
float32 model, AdamW, the same random token batch, pinchjax's jitted train step with the
base frozen (pinchjax.train.step, the trainer's split of pinchjax.checkpoints.adapters). tokens/s is
the fastest of the timed rounds. Prints JSON with the 1-minute load average before and after:
the figures of a loaded host are noisy, memory and state sizes are not.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

import protocol


def parse_args() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  p.add_argument("--layers", type=int, default=4)
  p.add_argument("--d-model", type=int, default=512)
  p.add_argument("--heads", type=int, default=8)
  p.add_argument("--kv-heads", type=int, default=8)
  p.add_argument("--mlp", type=int, default=1536)
  p.add_argument("--vocab", type=int, default=8192)
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--seq", type=int, default=256)
  p.add_argument("--ranks", type=int, nargs="+", default=[8, 64])
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps-per-round", type=int, default=3)
  p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child: this rank
  return p.parse_args()


def one_setting(a: argparse.Namespace, rank: int) -> dict:
  """Builds and times one setting (rank 0: full tuning) in this process."""
  import jax  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from pinchjax.model.config import ModelConfig  # pylint: disable=import-outside-toplevel
  from pinchjax.model.transformer import init_model  # pylint: disable=import-outside-toplevel
  from pinchjax.checkpoints import adapters  # pylint: disable=import-outside-toplevel
  from pinchjax.train import optimizer, step  # pylint: disable=import-outside-toplevel

  cfg = ModelConfig(family="llama", vocab_size=a.vocab, d_model=a.d_model, num_layers=a.layers,
                    num_heads=a.heads, num_kv_heads=a.kv_heads, head_dim=a.d_model // a.heads,
                    mlp_dim=a.mlp, tie_embeddings=True, max_len=a.seq, lora_rank=rank,
                    lora_alpha=2.0 * rank)
  graphdef, state = nnx.split(init_model(cfg))
  params = nnx.to_pure_dict(state)
  mask = (adapters.trainable_mask(state) if rank
          else jax.tree.map(lambda _: True, params))
  trainable, frozen = adapters.split(params, mask)
  del params, state
  schedule = optax.constant_schedule(1e-4)
  tx = optimizer.make_optimizer("adamw", schedule, b2=0.999, clip_norm=None)
  train_step = jax.jit(step.make_train_step(graphdef, tx, schedule), donate_argnums=0)
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, a.vocab, size=(a.batch, a.seq + 1)).astype(np.int32)
  b, s = a.batch, a.seq
  batch = jax.device_put({
      "decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
      "decoder_loss_weights": np.ones((b, s), np.float32),
      "decoder_segment_ids": np.ones((b, s), np.int32),
      "decoder_positions": np.broadcast_to(np.arange(s, dtype=np.int32), (b, s))})
  state = step.init_state(trainable, tx)
  nbytes = lambda tree: int(sum(x.nbytes for x in jax.tree.leaves(tree)))
  count = lambda tree: int(sum(x.size for x in jax.tree.leaves(tree)))
  out = {"lora_rank": rank, "trainable_params": count(state["params"]),
         "frozen_params": count(frozen), "optimizer_state_bytes": nbytes(state["opt_state"]),
         "trainable_bytes": nbytes(state["params"])}
  losses = []
  for _ in range(2):  # compile, warm up
    state, m = train_step(state, batch, frozen)
    losses.append(float(m["loss"]))
  times = []
  for _ in range(a.rounds):
    start = time.perf_counter()
    for _ in range(a.steps_per_round):
      state, m = train_step(state, batch, frozen)
    jax.block_until_ready(m["loss"])
    times.append(time.perf_counter() - start)
  tokens_per_round = a.batch * a.seq * a.steps_per_round
  out.update(tokens_per_sec=tokens_per_round / min(times),
             mean_tokens_per_sec=tokens_per_round * len(times) / sum(times),
             loss_first_steps=losses,
             peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
  return out


def main() -> None:
  a = parse_args()
  if a.one is not None:
    print(json.dumps(one_setting(a, a.one)))
    return
  host = protocol.Host()
  settings = []
  for rank in [0] + list(a.ranks):
    args = [sys.executable, os.path.abspath(__file__), "--one", str(rank)] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items()
        if k not in ("one", "ranks")]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    settings.append(json.loads(done.stdout.strip().splitlines()[-1]))
  full = settings[0]
  for s in settings[1:]:
    s["optimizer_state_vs_full"] = s["optimizer_state_bytes"] / full["optimizer_state_bytes"]
    s["peak_rss_vs_full"] = s["peak_rss_bytes"] / full["peak_rss_bytes"]
    s["tokens_per_sec_vs_full"] = s["tokens_per_sec"] / full["tokens_per_sec"]
  print(json.dumps({
      "model": {"layers": a.layers, "d_model": a.d_model, "heads": a.heads,
                "kv_heads": a.kv_heads, "mlp": a.mlp, "vocab": a.vocab, "dtype": "float32",
                "lora_targets": "q,k,v,o,gate,up,down"},
      "batch": a.batch, "seq": a.seq, "rounds": a.rounds, "steps_per_round": a.steps_per_round,
      "settings": settings, "host": host.report()}, indent=1))


if __name__ == "__main__":
  main()
