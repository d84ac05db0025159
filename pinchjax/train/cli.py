"""`pinchjax train`: runs `pinchjax.train.trainer.train` as the gin files configure it.

  pinchjax train --gin_file=gin/runs/tune.gin --gin_file=gin/models/toy_s.gin \\
      --gin.MIXTURE="'toy_pinch_p10'" --gin.MODEL_DIR="'runs/p10'"

Exit status: 0 when the run reached `train.num_steps` or was stopped by SIGTERM at any
point (after saving a checkpoint if steps ran since the last one; a line says what was
saved); run the same command again to resume. 1 on a NaN/Inf stop.
"""
from __future__ import annotations

import argparse
import json
import sys

from pinchjax.train import preemption


def run(args: argparse.Namespace) -> int:
  from pinchjax.train import trainer  # pylint: disable=import-outside-toplevel
  try:
    result = trainer.train()
  except trainer.NonFiniteError as e:
    print(f"pinchjax train: {e}", file=sys.stderr)
    return 1
  print(json.dumps({"step": result.step, "loss": result.loss, "preempted": result.preempted,
                    "checkpoint_dir": result.checkpoint_dir, **result.eval_losses}))
  return 0


def register(parser: argparse.ArgumentParser) -> None:
  parser.description = ("Tune or pretrain a model on a SeqIO mixture (gin: train.*, "
                        "ModelConfig.*, make_optimizer.*, make_schedule.*, make_mesh.*).")
  parser.set_defaults(func=run)
  # From here on SIGTERM is a request that `train` honours (it enters its own guard, which
  # inherits it): gin parsing, next, imports the trainer, which takes seconds.
  preemption.PreemptionGuard().__enter__()
