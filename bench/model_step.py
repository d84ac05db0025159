"""Forward+backward throughput of the pinchjax decoder, next to two references measured in the
same run: this machine's large-matmul FLOP/s, and the same model in PyTorch transformers.

  .venv/bin/python bench/model_step.py [--model toy_small] [--batch_size 8] [--seq_len 256]

Prints one JSON object. FLOP convention (pinchjax.train.flops, PaLM appendix B): per token
6 * N + 12 * layers * heads * head_dim * seq_len, N = parameters used in matmuls (the input
embedding counts only when tied to the output), every position a token, causal mask ignored.
The step is value_and_grad of the mean next-token cross-entropy (no optimizer update), jitted,
parameters placed by sharded_init on a data-parallel mesh over all local devices.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pinchjax import parallel  # pylint: disable=wrong-import-position
from pinchjax.model.config import ModelConfig  # pylint: disable=wrong-import-position
from pinchjax.train import flops  # pylint: disable=wrong-import-position


def _timed(fn, steps: int) -> float:
  """Seconds per call of fn() (which blocks), after one warm-up call."""
  fn()
  start = time.perf_counter()
  for _ in range(steps):
    fn()
  return (time.perf_counter() - start) / steps


def pinchjax_step(cfg: ModelConfig, tokens: np.ndarray, steps: int) -> dict:
  mesh = parallel.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  rules = parallel.logical_axis_rules()
  model, _ = parallel.sharded_init(cfg, mesh, rules, seed=0)
  graphdef, params = nnx.split(model, nnx.Param)
  batch, length = tokens.shape
  positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))

  def loss(params, tokens):
    logits, _ = nnx.merge(graphdef, params)(tokens[:, :-1], positions[:, :-1])
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, tokens[:, 1:, None], -1))

  with parallel.use_mesh(mesh, rules):
    step = jax.jit(jax.value_and_grad(loss))
    start = time.perf_counter()
    compiled = step.lower(params, tokens).compile()
    compile_s = time.perf_counter() - start
    seconds = _timed(lambda: jax.block_until_ready(compiled(params, tokens)), steps)
  n = flops.matmul_params(params, cfg.vocab_size * cfg.d_model, cfg.tie_embeddings)
  return {"seconds_per_step": seconds, "compile_seconds": compile_s, "matmul_params": n,
          "devices": len(mesh.devices.flat)}


def torch_step(cfg: ModelConfig, tokens: np.ndarray, steps: int) -> dict:
  """The same architecture in transformers (PyTorch, CPU, eager attention) as the peer."""
  try:
    import torch
    import transformers
  except ImportError as e:
    return {"error": f"peer unavailable: {e}"}
  torch.set_num_threads(os.cpu_count() or 1)
  config = transformers.AutoConfig.for_model(**cfg.to_hf_config())
  config._attn_implementation = "sdpa"
  model = transformers.AutoModelForCausalLM.from_config(config).float()
  ids = torch.tensor(tokens, dtype=torch.long)

  def run():
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids[:, :-1], labels=ids[:, :-1])
    out.loss.backward()

  return {"name": f"transformers {transformers.__version__} {type(model).__name__} "
                  f"(PyTorch {torch.__version__}, {torch.get_num_threads()} threads)",
          "seconds_per_step": _timed(run, steps)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="toy_small", help="a gin/models/ file name")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seq_len", type=int, default=256, help="tokens per row")
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--matmul_size", type=int, default=2048)
  parser.add_argument("--no_peer", action="store_true", help="skip the PyTorch peer")
  args = parser.parse_args()

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  gin.parse_config_files_and_bindings([os.path.join(root, "gin", "models", f"{args.model}.gin")],
                                      ["MODEL_DIR_HF = 'unused'"], skip_unknown=True)
  cfg = ModelConfig()
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, cfg.vocab_size, (args.batch_size, args.seq_len + 1), dtype=np.int32)

  ours = pinchjax_step(cfg, tokens, args.steps)
  tokens_per_step = args.batch_size * args.seq_len
  per_token = flops.flops_per_token(ours["matmul_params"], cfg.num_layers, cfg.num_heads,
                                    cfg.head_dim, args.seq_len)
  achieved = per_token * tokens_per_step / ours["seconds_per_step"]
  matmul = flops.measured_matmul_flops(size=args.matmul_size) * ours["devices"]
  result = {
      "benchmark": "model_step",
      "model": args.model,
      "params": cfg.num_params(),
      "matmul_params": ours["matmul_params"],
      "dtype": cfg.dtype,
      "batch_size": args.batch_size,
      "seq_len": args.seq_len,
      "devices": f"{ours['devices']} x {jax.devices()[0].device_kind}",
      "compile_seconds": round(ours["compile_seconds"], 2),
      "seconds_per_step": ours["seconds_per_step"],
      "tokens_per_s": tokens_per_step / ours["seconds_per_step"],
      "flops_per_token": per_token,
      "achieved_flops_per_s": achieved,
      "matmul_flops_per_s": matmul,
      "matmul_reference": f"float32 {args.matmul_size}^3 jnp matmul on each device, measured "
                          "in this run",
      "fraction_of_matmul_flops": achieved / matmul,
      "flop_convention": "6*N*tokens + 12*layers*heads*head_dim*seq_len*tokens (PaLM), N = "
                         "matmul parameters; forward+backward, no optimizer update",
  }
  if not args.no_peer:
    peer = torch_step(cfg, tokens, args.steps)
    if "seconds_per_step" in peer:
      peer["tokens_per_s"] = tokens_per_step / peer["seconds_per_step"]
      result["speedup_vs_peer"] = result["tokens_per_s"] / peer["tokens_per_s"]
    result["peer"] = peer
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
