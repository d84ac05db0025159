"""`make toy-base`: the toy world's base model, pretrained by pinchjax, shipped in toy_base/.

  python -m pinchjax.study.toy_base [--out toy_base] [--work results/toy_base_run] [--gin.X=Y ...]

1. builds the toy world (`build_toyworld`, seed 0) in WORK/data;
2. trains its sentencepiece vocabulary on the pretraining corpus and the tuning set's text,
   with the toy chat markers as single tokens (`pinchjax.data.toyworld.vocabulary`);
3. registers the world and pretrains as `pinchjax train --gin_file=gin/studies/toy_pretrain.gin`
   would, on the task `toy_pretrain`, in WORK/pretrain;
4. copies the final parameters (no optimiser state) to OUT/checkpoint and the vocabulary to
   OUT/vocab.model;
5. checks that the base follows no instructions: greedy answers to every eval instruction in
   all 12 languages, scored by the toy world's checker.
OUT/facts.json records the parameter count, steps, wall time, size on disk and accuracy.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Sequence

import gin
import numpy as np

from pinchjax import atomic_file
from pinchjax import gin_config
from pinchjax import languages
from pinchjax.data import vocab as vocab_lib

PRETRAIN_GIN = "gin/studies/toy_pretrain.gin"


def export_params(checkpoint_dir: str, out: str) -> str:
  """A run's checkpoints directory reduced to its latest step's `params` item and the
  model_config.json beside it (what tuning and inference load); returns the step directory."""
  from pinchjax.checkpoints import metadata  # pylint: disable=import-outside-toplevel
  steps = sorted(int(d) for d in os.listdir(checkpoint_dir) if d.isdigit())
  dst = os.path.join(out, str(steps[-1]))
  shutil.rmtree(out, ignore_errors=True)
  shutil.copytree(os.path.join(checkpoint_dir, str(steps[-1])), dst,
                  ignore=shutil.ignore_patterns("optimizer", "data"))
  shutil.copy(os.path.join(checkpoint_dir, metadata.MODEL_CONFIG), out)
  return dst


def base_accuracy(checkpoint: str, data_dir: str, out_dir: str, limit: int
                  ) -> dict[str, float]:
  """Checker accuracy of greedy answers per language, on `limit` eval items spread evenly
  over the eval set (which is ordered by task family)."""
  # pylint: disable=import-outside-toplevel
  from pinchjax.data import generations
  from pinchjax.data.toyworld import build, checkers
  from pinchjax.infer import run
  os.makedirs(out_dir, exist_ok=True)
  acc = {}
  for lang in languages.PAPER_LANGUAGES:
    with open(build.instruction_path(data_dir, "eval", lang), encoding="utf-8") as f:
      lines = f.readlines()
    src = os.path.join(out_dir, f"{lang}.input.jsonl")
    atomic_file.write(src, lines[::max(1, len(lines) // limit)][:limit])
    out = os.path.join(out_dir, f"{lang}.jsonl")
    run.infer(checkpoint=checkpoint, out=out, input_path=src, run="toy_base")
    acc[lang] = float(np.mean([checkers.check(r, r["response"]) for r in generations.read(out)]))
  return acc


def count_params() -> int:
  """Parameters of the model gin configures (built abstractly: no memory, no compute)."""
  # pylint: disable=import-outside-toplevel
  import jax
  from flax import nnx
  from pinchjax.model.config import ModelConfig
  from pinchjax.parallel import partition
  _, abstract = partition.abstract_model(ModelConfig(), 0)
  return int(sum(x.size for x in jax.tree.leaves(nnx.to_pure_dict(abstract))))


def final_loss(run_dir: str) -> float:
  """The last train loss the run logged (also when this call only resumed a finished run)."""
  with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
    return [r for r in map(json.loads, f) if r["split"] == "train"][-1]["loss"]


def _size(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def pretrain(data_dir: str, out: str, run_dir: str, seed: int = 0) -> dict:
  """Trains the vocabulary of the world in `data_dir` (OUT/vocab.model) and pretrains the
  gin-configured model on its corpus in `run_dir` (resuming what is there); exports the
  parameters to OUT/checkpoint. Returns the pretraining facts (steps, loss, wall time of the
  run that trained from step 0)."""
  # pylint: disable=import-outside-toplevel
  from pinchjax.data.toyworld import build, registration, vocabulary
  from pinchjax.train import trainer
  os.makedirs(out, exist_ok=True)
  vocab = vocabulary.train_vocabulary(data_dir, gin.query_parameter("%VOCAB_SIZE"),
                                      os.path.join(out, "vocab"), "toy")
  os.remove(os.path.join(out, "vocab.vocab"))  # a readable copy; the .model is the vocab
  registration.register_pretraining(build.corpus_path(data_dir),
                                    vocab_lib.get_vocabulary(vocab), replace=True)
  timing = os.path.join(run_dir, "wall_seconds.json")
  fresh = not os.path.exists(os.path.join(run_dir, "checkpoints"))
  start = time.time()
  result = trainer.train(model_dir=run_dir, mixture_or_task_name=registration.PRETRAIN_TASK,
                         seed=seed)
  if fresh:
    atomic_file.write_json(timing, time.time() - start)
  with open(timing, encoding="utf-8") as f:
    seconds = json.load(f)
  step_dir = export_params(result.checkpoint_dir, os.path.join(out, "checkpoint"))
  return {"steps": result.step, "final_loss": final_loss(run_dir), "seconds": round(seconds, 1),
          "parameters": count_params(),
          "vocabulary_size": vocab_lib.get_vocabulary(vocab).vocab_size,
          "checkpoint_step_dir": os.path.relpath(step_dir, out)}


def execute(step, inputs: dict[str, dict[str, str]], out_dir: str) -> dict[str, str]:
  """A study's `pretrain` step (grid.PRETRAIN): `pretrain` on the data step's world, with the
  step's gin files (e.g. toy_pretrain.gin) and bindings; writes facts.json beside the base."""
  # pylint: disable=import-outside-toplevel
  from pinchjax.study import grid, runner, step_gin
  step_gin.configure(step, inputs)
  facts = pretrain(inputs[grid.DATA]["dir"], out_dir, os.path.join(out_dir, "run"),
                   step.params.get("seed", 0))
  runner.write_json(os.path.join(out_dir, "facts.json"), facts)
  return {"checkpoint": "checkpoint", "vocabulary": "vocab.model", "facts": "facts.json"}


def main(argv: Sequence[str] | None = None) -> int:
  files, bindings, rest = gin_config.split_gin_args(sys.argv[1:] if argv is None else argv)
  parser = argparse.ArgumentParser(prog="python -m pinchjax.study.toy_base")
  parser.add_argument("--out", default="toy_base", help="where the shipped files go")
  parser.add_argument("--work", default="results/toy_base_run", help="data and the full run")
  parser.add_argument("--eval-items", type=int, default=100,
                      help="eval instructions per language for the pre-tuning check (0: skip)")
  args = parser.parse_args(rest)
  # pylint: disable=import-outside-toplevel
  from pinchjax.data.toyworld import build
  from pinchjax.infer import loading  # binds its vocabulary below

  run_dir = os.path.join(args.work, "pretrain")
  # Parsed first: the gin files may also configure the world (build_toyworld.*).
  gin_config.parse_gin([PRETRAIN_GIN, *files], [f"MODEL_DIR = {run_dir!r}", *bindings])
  data_dir = os.path.join(args.work, "data")
  world = build.build_toyworld(data_dir, seed=0)
  pretraining = pretrain(data_dir, args.out, run_dir)
  gin.bind_parameter(f"{loading.load_generator.__name__}.vocabulary",
                     os.path.join(args.out, "vocab.model"))
  accuracy = (base_accuracy(os.path.join(args.out, "checkpoint"), data_dir,
                            os.path.join(args.work, "base_generations"), args.eval_items)
              if args.eval_items else {})
  facts = {
      "pretraining": {"steps": pretraining["steps"], "final_loss": pretraining["final_loss"],
                      "seconds": pretraining["seconds"], "gin": [PRETRAIN_GIN, *files],
                      "bindings": bindings, "corpus_lines": world["corpus"]["lines"]},
      "parameters": pretraining["parameters"],
      "checkpoint_step_dir": pretraining["checkpoint_step_dir"],
      "size_bytes": _size(args.out),
      "pre_tuning_checker_accuracy": accuracy,
      "pre_tuning_checker_accuracy_mean": (float(np.mean(list(accuracy.values())))
                                           if accuracy else None),
      "eval_items_per_language": args.eval_items,
  }
  atomic_file.write_json(os.path.join(args.out, "facts.json"), facts)
  print(json.dumps(facts, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
