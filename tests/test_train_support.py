"""Shared set-up of the trainer tests: a tiny parallel dataset in three languages, its
sentencepiece vocabulary, and the gin bindings of a tiny model trained on it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pinchjax.data import chat, vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANGS = ("en", "fi", "sw")
# Per language: words for the digits 0-9. A response spells the instruction's number
# sequence continued by one, so the mapping is learnable and differs per language.
WORDS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "fi": "nolla yksi kaksi kolme nelja viisi kuusi seitseman kahdeksan yhdeksan".split(),
    "sw": "sifuri moja mbili tatu nne tano sita saba nane tisa".split(),
}


def _record(i: int, lang: str, rng: np.random.Generator) -> dict:
  start, n = int(rng.integers(0, 10)), int(rng.integers(2, 5))
  say = lambda k: " ".join(WORDS[lang][(start + k + j) % 10] for j in range(n))
  return {"id": f"ex{i}", "lang": lang, "instruction": f"next {say(0)}", "response": say(1),
          "source": "test"}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
  """{data_dir, vocab}: DATA_DIR/tiny/{train,validation}/{lang}.jsonl and a .model file."""
  root = tmp_path_factory.mktemp("tiny_data")
  texts = []
  for split, n, seed in (("train", 64, 0), ("validation", 8, 1)):
    for lang in LANGS:  # the same draws in every language: a parallel set
      rows = [_record(i, lang, np.random.default_rng([seed, i])) for i in range(n)]
      os.makedirs(root / "tiny" / split, exist_ok=True)
      with open(root / "tiny" / split / f"{lang}.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
      texts += [r["instruction"] + "\n" + r["response"] for r in rows]
  model = vocab.train_sentencepiece(texts, str(root / "spm" / "tiny"), 64,
                                    user_defined_symbols=chat.markers(["toy"]))
  return {"data_dir": str(root), "vocab": model}


def bindings(data: dict, model_dir: str, num_steps: int, **train: object) -> list[str]:
  """Gin bindings (on top of gin/runs/tune.gin) for a tiny model on `tiny_pinch_p100`."""
  out = [
      f"register_configured.data_dir = '{data['data_dir']}'",
      "register_configured.datasets = ['tiny']",
      f"register_configured.vocabulary = '{data['vocab']}'",
      "register_configured.template = 'toy'",
      "register_dataset.languages = ['en', 'fi', 'sw']",
      "register_dataset.seen = ['en', 'fi', 'sw']",
      "register_dataset.n_orderings = 1",
      "MIXTURE = 'tiny_pinch_p100'",
      f"MODEL_DIR = '{model_dir}'",
      f"TRAIN_STEPS = {num_steps}",
      "BATCH_SIZE = 8",
      "SEQUENCE_LENGTH = 32",
      "LEARNING_RATE = 1e-2",
      "make_schedule.warmup_steps = 5",
      "ModelConfig.vocab_size = 64",
      "ModelConfig.d_model = 32",
      "ModelConfig.num_layers = 2",
      "ModelConfig.num_heads = 2",
      "ModelConfig.num_kv_heads = 1",
      "ModelConfig.head_dim = 16",
      "ModelConfig.mlp_dim = 64",
      "train.log_every = 1",
  ]
  return out + [f"train.{k} = {v!r}" for k, v in train.items()]


def cli_command(data: dict, model_dir: str, num_steps: int, **train: object) -> list[str]:
  return [sys.executable, "-m", "pinchjax.cli", "train", "--gin_file=gin/runs/tune.gin",
          *[f"--gin.{b.replace(' = ', '=', 1)}" for b in bindings(data, model_dir, num_steps,
                                                                   **train)]]


def subprocess_env(devices: int = 8, **extra: str) -> dict:
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  env.update(extra)
  return env


def read_metrics(model_dir: str, split: str = "train") -> list[dict]:
  with open(os.path.join(model_dir, "metrics.jsonl"), encoding="utf-8") as f:
    return [r for r in map(json.loads, f) if r["split"] == split]


def run_cli(data, model_dir, num_steps, timeout=240, **train) -> subprocess.CompletedProcess:
  return subprocess.run(cli_command(data, model_dir, num_steps, **train), cwd=REPO,
                        env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


def train_in_process(data: dict, model_dir: str, num_steps: int, extra: tuple[str, ...] = (),
                     **train: object):
  """Runs `trainer.train` here with the tiny bindings (gin cleared before and after)."""
  import gin  # pylint: disable=import-outside-toplevel
  from pinchjax import cli  # pylint: disable=import-outside-toplevel
  from pinchjax.train import trainer  # pylint: disable=import-outside-toplevel
  gin.clear_config()
  try:
    cli.parse_gin(["gin/runs/tune.gin"], bindings(data, model_dir, num_steps, **train) + list(extra))
    return trainer.train()
  finally:
    gin.clear_config()


REFERENCE_STEPS = 12


@pytest.fixture(scope="session")
def reference_run(tiny_data, tmp_path_factory) -> dict:
  """An uninterrupted in-process run (8 devices) that the resume and multi-host runs match."""
  model_dir = str(tmp_path_factory.mktemp("reference") / "run")
  result = train_in_process(tiny_data, model_dir, REFERENCE_STEPS, checkpoint_every=4)
  return {"model_dir": model_dir, "result": result, "metrics": read_metrics(model_dir)}
