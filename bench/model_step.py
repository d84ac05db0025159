"""Forward+backward throughput of the pinchjax decoder, next to two references measured in the
same run: this machine's large-matmul FLOP/s, and the same model in PyTorch transformers.

  .venv/bin/python bench/model_step.py [--model toy_small] [--batch_size 8] [--seq_len 256]

Prints one JSON object. FLOP convention (pinchjax.train.flops, PaLM appendix B): per token
6 * N + 12 * layers * heads * head_dim * seq_len, N = parameters used in matmuls (the input
embedding counts only when tied to the output), every position a token, causal mask ignored.
The step is value_and_grad of the mean next-token cross-entropy (no optimizer update), jitted,
parameters placed by sharded_init on a data-parallel mesh over all local devices. The
measurements alternate round by round (bench/protocol.py) and report medians, so a busy
machine slows them alike; the peer runs at 1 torch thread and at torch's default, and the
faster counts. The host's load before and after is reported, with a warning when it was busy.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import protocol  # pylint: disable=wrong-import-position
from pinchjax import parallel  # pylint: disable=wrong-import-position
from pinchjax.model import hf_config  # pylint: disable=wrong-import-position
from pinchjax.model.config import ModelConfig  # pylint: disable=wrong-import-position
from pinchjax.train import flops, step  # pylint: disable=wrong-import-position


def pinchjax_step(cfg: ModelConfig, tokens: np.ndarray) -> tuple[Callable[[], None], dict]:
  """(one blocking step, facts): value_and_grad of next-token cross-entropy, jitted."""
  mesh = parallel.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  partitioner = parallel.Partitioner.create(mesh)
  model, _ = parallel.sharded_init(cfg, partitioner, seed=0)
  graphdef, params = nnx.split(model, nnx.Param)
  batch, length = tokens.shape
  positions = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))

  def loss(params, tokens):
    logits, _ = nnx.merge(graphdef, params)(tokens[:, :-1], positions[:, :-1])
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, tokens[:, 1:, None], -1))

  with partitioner.activate():
    start = time.perf_counter()
    compiled = jax.jit(jax.value_and_grad(loss), compiler_options=step.compiler_options()
                       ).lower(params, tokens).compile()  # as the trainer compiles its step
    compile_s = time.perf_counter() - start
  n = flops.matmul_params(params, cfg.vocab_size * cfg.d_model, cfg.tie_embeddings)
  return (lambda: jax.block_until_ready(compiled(params, tokens)),
          {"compile_seconds": compile_s, "matmul_params": n,
           "devices": len(mesh.devices.flat)})


def torch_step(cfg: ModelConfig, tokens: np.ndarray) -> tuple[Callable[[], None], str]:
  """The same architecture in transformers (PyTorch, CPU, SDPA attention): the peer."""
  import torch
  import transformers
  config = transformers.AutoConfig.for_model(**hf_config.hf_from_fields(cfg))
  config._attn_implementation = "sdpa"
  model = transformers.AutoModelForCausalLM.from_config(config).float()
  ids = torch.tensor(tokens, dtype=torch.long)

  def run():
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids[:, :-1], labels=ids[:, :-1])
    out.loss.backward()

  return run, (f"transformers {transformers.__version__} {type(model).__name__} "
               f"(PyTorch {torch.__version__})")


def matmul_step(size: int) -> Callable[[], None]:
  """A float32 size^3 matmul on the first device: the machine's large-matmul rate."""
  a = jnp.ones((size, size), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  return lambda: jax.block_until_ready(mm(a))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", default="toy_small", help="a gin/models/ file name")
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--seq_len", type=int, default=256, help="tokens per row")
  parser.add_argument("--steps", type=int, default=5, help="timed rounds after a warm-up")
  parser.add_argument("--matmul_size", type=int, default=2048)
  parser.add_argument("--no_peer", action="store_true", help="skip the PyTorch peer")
  args = parser.parse_args()

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  gin.parse_config_files_and_bindings([os.path.join(root, "gin", "models", f"{args.model}.gin")],
                                      ["MODEL_DIR_HF = 'unused'"], skip_unknown=True)
  cfg = ModelConfig()
  rng = np.random.default_rng(0)
  tokens = rng.integers(0, cfg.vocab_size, (args.batch_size, args.seq_len + 1), dtype=np.int32)

  host = protocol.Host()
  ours, facts = pinchjax_step(cfg, tokens)
  runs = {"pinchjax": ours, "matmul": matmul_step(args.matmul_size)}
  if not args.no_peer:
    peer, peer_name = torch_step(cfg, tokens)
    runs.update({f"pytorch_threads_{n}": protocol.with_torch_threads(peer, n)
                 for n in protocol.torch_thread_counts()})
  times = protocol.alternate(runs, args.steps)
  seconds = {k: float(np.median(v)) for k, v in times.items()}

  tokens_per_step = args.batch_size * args.seq_len
  per_token = flops.flops_per_token(facts["matmul_params"], cfg.num_layers, cfg.num_heads,
                                    cfg.head_dim, args.seq_len)
  achieved = per_token * tokens_per_step / seconds["pinchjax"]
  matmul = 2.0 * args.matmul_size ** 3 / seconds["matmul"]
  result = {
      "benchmark": "model_step",
      "model": args.model,
      "params": cfg.num_params(),
      "matmul_params": facts["matmul_params"],
      "dtype": cfg.dtype,
      "batch_size": args.batch_size,
      "seq_len": args.seq_len,
      "devices": f"{facts['devices']} x {jax.devices()[0].device_kind}",
      "rounds": args.steps,
      "compile_seconds": round(facts["compile_seconds"], 2),
      "seconds_per_step": seconds["pinchjax"],
      "tokens_per_s": tokens_per_step / seconds["pinchjax"],
      "flops_per_token": per_token,
      "achieved_flops_per_s": achieved,
      "matmul_flops_per_s": matmul,
      "matmul_reference": f"float32 {args.matmul_size}^3 jnp matmul on one device, median of "
                          "the same rounds",
      "fraction_of_matmul_flops": achieved / (matmul * facts["devices"]),
      "flop_convention": "6*N*tokens + 12*layers*heads*head_dim*seq_len*tokens (PaLM), N = "
                         "matmul parameters; forward+backward, no optimizer update",
  }
  if not args.no_peer:
    by_threads = {k: v for k, v in seconds.items() if k.startswith("pytorch_threads_")}
    best = min(by_threads, key=by_threads.get)
    peer_tokens = tokens_per_step / seconds[best]
    result["peer"] = {"name": peer_name, "threads": int(best.rsplit("_", 1)[1]),
                      "seconds_per_step": seconds[best], "tokens_per_s": peer_tokens,
                      "tokens_per_s_by_threads": {k.rsplit("_", 1)[1]: tokens_per_step / v
                                                  for k, v in by_threads.items()}}
    result["speedup_vs_peer"] = result["tokens_per_s"] / peer_tokens
  result["host"] = host.report()
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
