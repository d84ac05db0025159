"""Generated tokens/s of pinchjax's decoder vs transformers `generate`, same weights, one run.

A random Llama-architecture checkpoint is written by transformers (`save_pretrained`,
safetensors) and loaded by pinchjax (`load_hf`). Both decode greedily with a KV cache, from
the same prompts, exactly `--new-tokens` tokens per row (no early stop), at each batch size.
Each figure is the best of `--repeats` timed calls after one warm-up call (which, for
pinchjax, compiles); the decoders' calls alternate (bench/protocol.py) so that other load on
the host hits all of them, and the host's load before and after is reported. Both use the host's cores their own way: transformers runs with 1 thread and with
torch's default thread count (one thread can win on a loaded host); pinchjax runs on one
XLA CPU device and on one XLA CPU device per core, either with the rows split over them
(`data` mesh; each device decodes its rows in its own loop) or with the weights split
(`cpu_host.decode_mesh`, what `pinchjax infer` uses on a CPU host), under the XLA flags of
`pinchjax infer` (pinchjax.parallel.cpu_host; reported as `host.xla_flags`). `ratio` =
pinchjax / transformers, each at its faster setting. Prints one JSON object.

  .venv/bin/python bench/decode_throughput.py [--batches 1 32] [--new-tokens 64]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile

import jax
import numpy as np
import torch
import transformers

import protocol

from pinchjax import parallel
from pinchjax.parallel import cpu_host
from pinchjax.infer import decode
from pinchjax.checkpoints import hf


def make_checkpoint(directory: str, args: argparse.Namespace) -> transformers.PreTrainedModel:
  torch.manual_seed(0)
  config = transformers.LlamaConfig(
      vocab_size=args.vocab, hidden_size=args.d_model, intermediate_size=args.d_model * 4,
      num_hidden_layers=args.layers, num_attention_heads=args.heads,
      num_key_value_heads=args.heads // 2, max_position_embeddings=1024,
      tie_word_embeddings=False)
  model = transformers.LlamaForCausalLM(config).eval()
  model.save_pretrained(directory, safe_serialization=True)
  return model


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
  parser.add_argument("--prompt-len", type=int, default=32)
  parser.add_argument("--new-tokens", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--vocab", type=int, default=4096)
  parser.add_argument("--d-model", type=int, default=256)
  parser.add_argument("--layers", type=int, default=4)
  parser.add_argument("--heads", type=int, default=8)
  args = parser.parse_args()
  host = protocol.Host()
  cpu_host.use_for_decoding()  # as `pinchjax infer` does; before JAX starts

  with tempfile.TemporaryDirectory() as directory:
    torch_model = make_checkpoint(directory, args)
    model = hf.load_hf_model(directory)
    meshes = {"rows_split": parallel.make_mesh({"data": -1}),
              "weights_split": cpu_host.decode_mesh(model.cfg)}
    partitioners = {name: parallel.Partitioner.create(mesh) for name, mesh in meshes.items()}
    sharded = {f"{p.mesh.size}_devices_{name}": (hf.load_hf_model(directory, p), p)
               for name, p in partitioners.items()}
  # The peer at its best: one torch thread can beat several on a loaded host.
  thread_counts = protocol.torch_thread_counts()
  rng = np.random.default_rng(0)
  results = {}
  for batch in args.batches:
    prompts = rng.integers(3, args.vocab, (batch, args.prompt_len))
    n = args.new_tokens

    def run_pinchjax(m, sharding):
      return lambda: decode.generate(m, prompts.tolist(), n, sharding=sharding)

    def run_transformers(threads):
      def run():
        with protocol.torch_threads(threads), torch.inference_mode():
          return torch_model.generate(
              torch.as_tensor(prompts),
              attention_mask=torch.ones(prompts.shape, dtype=torch.long), max_new_tokens=n,
              min_new_tokens=n, do_sample=False, use_cache=True, eos_token_id=None,
              pad_token_id=0)
      return run

    ours = {"1_device": run_pinchjax(model, None)}
    ours.update({name: run_pinchjax(m, sharding) for name, (m, sharding) in sharded.items()})
    fns = list(ours.values()) + [run_transformers(t) for t in thread_counts]
    outs = [fn() for fn in fns]  # warm-up (pinchjax compiles here); outputs compared below
    rounds = protocol.alternate(dict(enumerate(fns)), args.repeats, warmup=0)
    times = [min(rounds[i]) for i in range(len(fns))]
    theirs = outs[-1][:, args.prompt_len:].tolist()
    same = {k: sum(o.tokens == t for o, t in zip(out, theirs))
            for k, out in zip(ours, outs)}
    jax_tps = {k: batch * n / s for k, s in zip(ours, times)}
    torch_tps = {t: batch * n / s for t, s in zip(thread_counts, times[len(ours):])}
    best_jax = max(jax_tps, key=jax_tps.get)
    best_threads = max(torch_tps, key=torch_tps.get)
    results[f"batch_{batch}"] = {
        "pinchjax_tokens_per_s": round(jax_tps[best_jax], 1),
        "transformers_tokens_per_s": round(torch_tps[best_threads], 1),
        "pinchjax_tokens_per_s_by_devices": {k: round(v, 1) for k, v in jax_tps.items()},
        "transformers_tokens_per_s_by_threads": {t: round(v, 1) for t, v in torch_tps.items()},
        "ratio": round(jax_tps[best_jax] / torch_tps[best_threads], 2),
        "rows_with_identical_tokens": {k: f"{v}/{batch}" for k, v in same.items()},
    }
  print(json.dumps({
      "benchmark": "decode_throughput",
      "model": {"architecture": "llama", "vocab": args.vocab, "d_model": args.d_model,
                "layers": args.layers, "heads": args.heads, "kv_heads": args.heads // 2,
                "parameters": sum(p.numel() for p in torch_model.parameters()),
                "dtype": "float32"},
      "prompt_len": args.prompt_len, "new_tokens_per_row": args.new_tokens,
      "timing": f"best of {args.repeats} alternating calls after one warm-up call each",
      "results": results,
      "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(),
               "jax": jax.__version__, "jax_devices": [str(d) for d in jax.devices()],
               "xla_flags": os.environ.get("XLA_FLAGS", ""),
               "torch": torch.__version__, "transformers": transformers.__version__,
               **host.report()},
  }, indent=1))


if __name__ == "__main__":
  main()
