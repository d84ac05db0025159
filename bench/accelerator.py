"""Train MFU and decode tokens/s of 1B-shaped models on one GPU or TPU host.

  python bench/accelerator.py [--models gemma3_1b llama3_2_1b] [--seq 2048]
  python bench/accelerator.py --tiny   # shrunken shapes: runs anywhere, CPU included

For each model (a gin/models/ file: its shapes and its default dtypes, bfloat16 compute over
float32 master weights; random weights) it times pinchjax's AdamW train step
(pinchjax.train.step, jitted, state donated) at `--seq` tokens per row on a mesh of all local
devices (parameters sharded over them, `fsdp`), and reports MFU against the datasheet bf16
peak of the device (pinchjax.train.flops.PEAK_FLOPS: H100, H200, A100, TPU v4, v5e, v5p,
v6e; `--peak-tflops` overrides it; elsewhere the measured float32 matmul rate). FLOPs: 6 * N
+ 12 * L * H * Dh * S per token (pinchjax.train.flops). Then greedy decoding
(pinchjax.infer.decode.generate) of `--new-tokens` tokens per row at each of
`--decode-batches`, tokens/s of the best of `--repeats` calls after a compiling one.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import gin
import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import protocol  # pylint: disable=wrong-import-position
from pinchjax import parallel  # pylint: disable=wrong-import-position
from pinchjax.infer import decode  # pylint: disable=wrong-import-position
from pinchjax.model.config import ModelConfig  # pylint: disable=wrong-import-position
from pinchjax.train import flops, optimizer, step  # pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# --tiny: each model keeps its architecture (norms, layer pattern, dtypes), at toy sizes.
TINY = {"vocab_size": 512, "d_model": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2,
        "head_dim": 16, "mlp_dim": 128}


def model_config(name: str, tiny: bool) -> ModelConfig:
  gin.clear_config()
  gin.parse_config_files_and_bindings([os.path.join(ROOT, "gin", "models", f"{name}.gin")],
                                      ["MODEL_DIR_HF = 'unused'"], skip_unknown=True)
  cfg = ModelConfig()
  gin.clear_config()
  if tiny:
    window = {"sliding_window": 16} if cfg.sliding_window else {}
    cfg = dataclasses.replace(cfg, **TINY, **window)
  return cfg


def train(cfg: ModelConfig, partitioner: parallel.Partitioner, batch: int, seq: int,
          steps: int) -> dict:
  """Tokens/s and FLOPs per token of the AdamW train step on random tokens."""
  model, _ = parallel.sharded_init(cfg, partitioner, seed=0)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  schedule = optax.constant_schedule(1e-4)
  tx = optimizer.make_optimizer("adamw", schedule, clip_norm=1.0)
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, cfg.vocab_size, (batch, seq + 1), dtype=np.int32)
  host_batch = {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
                "decoder_loss_weights": np.ones((batch, seq), np.float32),
                "decoder_segment_ids": np.ones((batch, seq), np.int32),
                "decoder_positions": np.broadcast_to(np.arange(seq, dtype=np.int32),
                                                     (batch, seq))}
  batch_arrays = jax.device_put(host_batch, partitioner.sharding(("batch", "length")))
  with partitioner.activate():
    state = jax.jit(lambda p: step.init_state(p, tx))(params)
    del params, model
    start = time.perf_counter()
    shardings = jax.tree.map(lambda x: x.sharding, state)  # the state keeps its layout
    compiled = jax.jit(step.make_train_step(graphdef, tx, schedule), donate_argnums=0,
                       out_shardings=(shardings, NamedSharding(partitioner.mesh, PartitionSpec())),
                       compiler_options=step.compiler_options()
                       ).lower(state, batch_arrays).compile()
    compile_s = time.perf_counter() - start
  holder = [state]

  def run() -> float:
    holder[0], metrics = compiled(holder[0], batch_arrays)
    return float(metrics["loss"])  # blocks
  loss = run()
  seconds = protocol.alternate({"train": run}, steps, warmup=0)["train"]
  n = flops.matmul_params(holder[0]["params"], cfg.vocab_size * cfg.d_model, cfg.tie_embeddings)
  del holder[0]
  return {"batch": batch, "seq": seq, "compile_s": round(compile_s, 2), "loss": loss,
          "step_time_s": min(seconds), "median_step_time_s": float(np.median(seconds)),
          "tokens_per_s": batch * seq / min(seconds),
          "flops_per_token": flops.flops_per_token(n, cfg.num_layers, cfg.num_heads,
                                                   cfg.head_dim, seq)}


def decode_rates(cfg: ModelConfig, partitioner: parallel.Partitioner, batches: list[int], prompt_len: int,
                 new_tokens: int, repeats: int) -> dict:
  """Greedy decoding tokens/s (new tokens only) at each batch size."""
  model, _ = parallel.sharded_init(cfg, partitioner, seed=0)
  rng = np.random.default_rng(0)
  out = {}
  for b in batches:
    prompts = rng.integers(3, cfg.vocab_size, (b, prompt_len)).tolist()

    def run(prompts=prompts):
      return decode.generate(model, prompts, new_tokens, sharding=partitioner)
    seconds = protocol.alternate({"decode": run}, repeats)["decode"]
    out[f"batch_{b}"] = {"tokens_per_s": b * new_tokens / min(seconds),
                         "seconds": min(seconds)}
  return out


def main(argv: list[str] | None = None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  p.add_argument("--models", nargs="+", default=["gemma3_1b", "llama3_2_1b"],
                 help="gin/models/ file names")
  p.add_argument("--tiny", action="store_true", help="toy sizes of each model (CPU smoke run)")
  p.add_argument("--seq", type=int, default=None, help="train tokens per row (2048; tiny 64)")
  p.add_argument("--batch-per-device", type=int, default=None, help="rows (4; tiny 2)")
  p.add_argument("--steps", type=int, default=5, help="timed train steps after a compiled one")
  p.add_argument("--decode-batches", type=int, nargs="+", default=[1, 64])
  p.add_argument("--prompt-len", type=int, default=None, help="(128; tiny 8)")
  p.add_argument("--new-tokens", type=int, default=None, help="per row (128; tiny 8)")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--peak-tflops", type=float, default=None,
                 help="peak bf16 TFLOP/s per device (default: datasheet, else measured)")
  a = p.parse_args(argv)
  seq = a.seq or (64 if a.tiny else 2048)
  per_device = a.batch_per_device or (2 if a.tiny else 4)
  prompt_len = a.prompt_len or (8 if a.tiny else 128)
  new_tokens = a.new_tokens or (8 if a.tiny else 128)
  host = protocol.Host()
  mesh = parallel.make_mesh({"fsdp": -1})
  partitioner = parallel.Partitioner.create(mesh)
  if a.peak_tflops:
    peak, peak_source = a.peak_tflops * 1e12, "--peak-tflops"
  else:
    peak, peak_source = flops.peak_flops_per_device()
  result = {"benchmark": "accelerator", "backend": jax.default_backend(),
            "device_kind": jax.devices()[0].device_kind, "devices": mesh.size,
            "tiny": a.tiny, "peak_flops_per_device": peak, "peak_source": peak_source,
            "flop_convention": "6*N + 12*L*H*Dh*S per token, N = matmul parameters",
            "models": {}}
  for name in a.models:
    cfg = model_config(name, a.tiny)
    tr = train(cfg, partitioner, per_device * mesh.size, seq, a.steps)
    tr["mfu"] = tr["tokens_per_s"] * tr["flops_per_token"] / (peak * mesh.size)
    result["models"][name] = {
        "config": {k: getattr(cfg, k) for k in ("vocab_size", "d_model", "num_layers",
                                                "num_heads", "num_kv_heads", "head_dim",
                                                "mlp_dim", "dtype", "param_dtype")},
        "params": cfg.num_params(), "train": tr,
        "decode": decode_rates(cfg, partitioner, a.decode_batches, prompt_len, new_tokens,
                               a.repeats)}
  result["host"] = host.report()
  print(json.dumps(result, indent=1))
  return result


if __name__ == "__main__":
  main()
