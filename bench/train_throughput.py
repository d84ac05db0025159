"""Train-step throughput: pinchjax vs PyTorch + transformers, same model, same CPU, one run.

    python bench/train_throughput.py [--layers 4 --d-model 256 --batch 4 --seq 256 ...]

Both sides train the same Llama-architecture decoder (RMSNorm, RoPE, SwiGLU, tied
embeddings, float32) with AdamW on the same random token batch: pinchjax's jitted train step
(pinchjax.train.step) against `LlamaForCausalLM` + `torch.optim.AdamW` (SDPA attention).
Steps are timed in alternating rounds (bench/protocol.py) so both see the same machine load,
PyTorch at 1 thread and at its default; tokens/s is that of each side's fastest round (PyTorch
at its faster thread setting; medians are reported too). Prints JSON with tokens/s of each,
their ratio, MFU against this machine's peak measured float32 matmul rate, and the host's
load before and after (with a warning when it was busy).
FLOP convention: 6 * N + 12 * L * H * Dh * S per token (pinchjax.train.flops).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import protocol


def parse_args() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  p.add_argument("--layers", type=int, default=4)
  p.add_argument("--d-model", type=int, default=256)
  p.add_argument("--heads", type=int, default=4)
  p.add_argument("--kv-heads", type=int, default=4)
  p.add_argument("--mlp", type=int, default=768)
  p.add_argument("--vocab", type=int, default=2048)
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--seq", type=int, default=256)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps-per-round", type=int, default=3)
  return p.parse_args()


def make_batch(a: argparse.Namespace) -> np.ndarray:
  rng = np.random.default_rng(0)
  return rng.integers(0, a.vocab, size=(a.batch, a.seq + 1)).astype(np.int32)


def pinchjax_step(a: argparse.Namespace, tokens: np.ndarray):
  """A closure running one pinchjax AdamW train step (blocking), with its model config."""
  import jax  # pylint: disable=import-outside-toplevel
  import optax  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from pinchjax.model.config import ModelConfig  # pylint: disable=import-outside-toplevel
  from pinchjax.model.transformer import Transformer  # pylint: disable=import-outside-toplevel
  from pinchjax.train import optimizer, step  # pylint: disable=import-outside-toplevel

  cfg = ModelConfig(family="llama", vocab_size=a.vocab, d_model=a.d_model, num_layers=a.layers,
                    num_heads=a.heads, num_kv_heads=a.kv_heads, head_dim=a.d_model // a.heads,
                    mlp_dim=a.mlp, tie_embeddings=True, max_len=a.seq)
  graphdef, params = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
  schedule = optax.constant_schedule(1e-4)
  tx = optimizer.make_optimizer("adamw", schedule, b2=0.999, clip_norm=None)
  train_step = jax.jit(step.make_train_step(graphdef, tx, schedule), donate_argnums=0,
                       compiler_options=step.compiler_options())  # as the trainer compiles it
  b, s = a.batch, a.seq
  batch = {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
           "decoder_loss_weights": np.ones((b, s), np.float32),
           "decoder_segment_ids": np.ones((b, s), np.int32),
           "decoder_positions": np.broadcast_to(np.arange(s, dtype=np.int32), (b, s))}
  batch = jax.device_put(batch)
  state = [step.init_state(nnx.to_pure_dict(params), tx)]

  def run() -> float:
    state[0], metrics = train_step(state[0], batch)
    return float(metrics["loss"])
  return run, cfg


def torch_step(a: argparse.Namespace, tokens: np.ndarray):
  """A closure running one PyTorch AdamW train step of the same LlamaForCausalLM."""
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel

  torch.manual_seed(0)
  hf = transformers.LlamaConfig(
      vocab_size=a.vocab, hidden_size=a.d_model, intermediate_size=a.mlp,
      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
      max_position_embeddings=a.seq, rms_norm_eps=1e-6, tie_word_embeddings=True,
      attn_implementation="sdpa")
  model = transformers.LlamaForCausalLM(hf).train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                          weight_decay=0.0)
  inputs = torch.from_numpy(tokens[:, :-1].astype(np.int64))
  targets = torch.from_numpy(tokens[:, 1:].astype(np.int64))

  def run() -> float:
    logits = model(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab).float(),
                                             targets.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())
  return run


def matmul_rate(size: int = 1024, repeats: int = 7) -> dict[str, float]:
  """Peak float32 matmul FLOP/s of this CPU through JAX and through PyTorch (fastest run)."""
  import torch  # pylint: disable=import-outside-toplevel
  from pinchjax.train import flops  # pylint: disable=import-outside-toplevel
  x = torch.ones(size, size)
  x @ x
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    x @ x
    best = min(best, time.perf_counter() - start)
  return {"jax": flops.measured_matmul_flops(size=size, repeats=repeats),
          "torch": 2.0 * size ** 3 / best}


def main() -> None:
  a = parse_args()
  host = protocol.Host()
  tokens = make_batch(a)
  jax_run, cfg = pinchjax_step(a, tokens)
  torch_run = torch_step(a, tokens)
  first = {"pinchjax": jax_run(), "pytorch": torch_run()}  # compile / warm up
  runs = {"pinchjax": jax_run}
  runs.update({f"pytorch_threads_{n}": protocol.with_torch_threads(torch_run, n)
               for n in protocol.torch_thread_counts()})
  rounds = protocol.alternate(runs, a.rounds, a.steps_per_round)
  from pinchjax.train import flops  # pylint: disable=import-outside-toplevel
  fpt = flops.flops_per_token(cfg.num_params(), cfg.num_layers, cfg.num_heads, cfg.head_dim,
                              a.seq)  # tied embeddings: every parameter is in a matmul
  peak = matmul_rate()
  best_peak = max(peak.values())
  out = {"model": {"layers": a.layers, "d_model": a.d_model, "heads": a.heads,
                   "kv_heads": a.kv_heads, "mlp": a.mlp, "vocab": a.vocab,
                   "params": cfg.num_params(), "tied_embeddings": True, "dtype": "float32"},
         "batch": a.batch, "seq": a.seq, "rounds": a.rounds,
         "steps_per_round": a.steps_per_round,
         "timing": "fastest of alternating rounds after a warm-up step each; PyTorch at its "
                   "faster thread setting",
         "flop_convention": "6*N + 12*L*H*Dh*S per token, N = all parameters (tied embedding)",
         "flops_per_token": fpt, "matmul_flops_per_sec": peak}
  tokens_per_step = a.batch * a.seq

  def side(times: list[float], loss: float) -> dict[str, float]:
    rate = tokens_per_step / min(times)  # the fastest round: least disturbed by other load
    return {"tokens_per_sec": rate, "median_tokens_per_sec": tokens_per_step /
            float(np.median(times)), "step_time_s": min(times), "mfu": rate * fpt / best_peak,
            "first_loss": loss}
  out["pinchjax"] = side(rounds["pinchjax"], first["pinchjax"])
  best, _ = protocol.best_torch(rounds)
  out["pytorch"] = side(rounds[best], first["pytorch"])
  out["pytorch"]["threads"] = int(best.rsplit("_", 1)[1])
  out["pytorch_tokens_per_sec_by_threads"] = {
      k.rsplit("_", 1)[1]: tokens_per_step / min(v) for k, v in rounds.items() if k != "pinchjax"}
  out["ratio_pinchjax_over_pytorch"] = out["pinchjax"]["tokens_per_sec"] / \
      out["pytorch"]["tokens_per_sec"]
  out["host"] = host.report()
  print(json.dumps(out, indent=1))

if __name__ == "__main__":
  main()
