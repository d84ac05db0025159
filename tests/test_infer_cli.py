"""`pinchjax infer` end to end: a pinchjax training checkpoint, a registered eval task, a run
killed mid-way leaves a valid file, and the rerun completes it to what one uninterrupted
in-process run writes."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

from pinchjax import parallel
from pinchjax.infer import loading
from pinchjax.infer.writer import DecodeConfig, write_generations
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer
from pinchjax.checkpoints import checkpointer as checkpoint, metadata
from test_infer_writer import write_tokenizer

WORDS = ["the quick brown fox", "jumps over", "the lazy dog", "hyvää huomenta", "buongiorno",
         "habari ya asubuhi"]
RECORDS = [{"id": f"q{i}", "lang": "fi", "instruction": " ".join([WORDS[i % 6]] * (1 + i % 4)),
            "response": "", "source": "test"} for i in range(24)]
NEW = 16


def _save_run_checkpoint(directory) -> None:
  """What a training run leaves: orbax steps plus model_config.json."""
  cfg = ModelConfig(family="toy", vocab_size=320, d_model=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=256)
  params = nnx.to_pure_dict(nnx.state(Transformer(cfg, rngs=nnx.Rngs(5))))
  ckpt = checkpoint.Checkpointer(str(directory), async_save=False)
  ckpt.save({"step": jnp.int32(3), "params": params, "opt_state": {}}, {"train": {}})
  ckpt.close()
  metadata.save_model_config(str(directory), cfg)


def _command(ckpt, tok, data, out):
  gin = [f"--gin.get_vocabulary.path='{tok}'", f"--gin.DecodeConfig.max_new_tokens={NEW}",
         f"--gin.register_configured.data_dir='{data}'",
         "--gin.register_configured.evalsets=['evalx']",
         f"--gin.register_configured.vocabulary='{tok}'",
         "--gin.register_configured.template='toy'"]
  return [sys.executable, "-m", "pinchjax.cli", "infer", "--checkpoint", str(ckpt), "--task",
          "evalx_fi", "--out", str(out), "--run", "tiny", "--batch-size", "2", *gin]


def test_killed_run_resumes_to_the_uninterrupted_file(tmp_path):
  ckpt, tok, data = tmp_path / "ckpt", tmp_path / "tok", tmp_path / "data"
  _save_run_checkpoint(ckpt)
  write_tokenizer(tok)
  (data / "evalx" / "test").mkdir(parents=True)
  with open(data / "evalx" / "test" / "fi.jsonl", "w", encoding="utf-8") as f:
    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS)
  out = tmp_path / "gen.jsonl"

  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device: fast compiles
  proc = subprocess.Popen(_command(ckpt, tok, data, out), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, env=env)
  deadline = time.monotonic() + 300
  while not (out.exists() and out.read_bytes().count(b"\n") >= 2):
    assert proc.poll() is None and time.monotonic() < deadline, "no batch was written"
    time.sleep(0.002)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  killed = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
  assert 2 <= len(killed) < len(RECORDS)

  done = subprocess.run(_command(ckpt, tok, data, out), capture_output=True, text=True,
                        timeout=300, check=True, env=env)
  summary = json.loads(done.stdout.strip().splitlines()[-1])
  assert summary["skipped"] == len(killed)
  assert summary["written"] == len(RECORDS) - len(killed)
  rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
  assert rows[:len(killed)] == killed

  reference = tmp_path / "reference.jsonl"
  one_device = parallel.Partitioner.create(parallel.make_mesh(devices=jax.devices()[:1]))
  generator = loading.load_generator(str(ckpt), vocabulary=str(tok), partitioner=one_device)
  write_generations(generator, [{k: r[k] for k in ("id", "lang", "instruction")}
                                for r in RECORDS], str(reference), "tiny",
                    DecodeConfig(max_new_tokens=NEW), batch_size=5)
  want = {r["id"]: r for r in map(json.loads, reference.read_text("utf-8").splitlines())}
  assert {r["id"]: r for r in rows} == want
  assert len({r["response"] for r in rows}) > 1
