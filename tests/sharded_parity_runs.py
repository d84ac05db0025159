"""Worker of test_train_sharding_parity: trains the tiny models on the meshes a spec names.

  python tests/sharded_parity_runs.py SPEC.json OUT.json

Run in a subprocess so the device count (XLA_FLAGS) is its own. For each run of the spec it
trains `steps` steps (checkpoints every `steps // 2`) and records the losses; with `resume`,
it then deletes the last checkpoint (as a kill just before it was written would) and trains
again, recording the losses of the resumed half.
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_support import read_metrics, train_in_process  # noqa: E402


def losses(model_dir: str) -> dict[int, float]:
  return {r["step"]: r["loss"] for r in read_metrics(model_dir)}


def main(spec_path: str, out_path: str) -> None:
  with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)
  steps, half, out = spec["steps"], spec["steps"] // 2, {}
  for run in spec["runs"]:
    model_dir = os.path.join(spec["root"], run["name"])
    # log_every: metrics of every step are still written, with fewer host syncs
    extra = (f"make_mesh.shape = {run['mesh']!r}", "train.log_every = 10", *run["bindings"])
    train_in_process(spec["data"], model_dir, steps, extra, checkpoint_every=half,
                     keep_checkpoints=None, microbatches=run.get("microbatches", 1),
                     async_checkpointing=False)
    record = {"losses": losses(model_dir)}
    if run.get("resume"):
      shutil.rmtree(os.path.join(model_dir, "checkpoints", str(steps)))
      train_in_process(spec["data"], model_dir, steps, extra, checkpoint_every=half,
                       keep_checkpoints=None, microbatches=run.get("microbatches", 1),
                       async_checkpointing=False)
      record["resumed"] = losses(model_dir)
    out[run["name"]] = record
  with open(out_path, "w", encoding="utf-8") as f:
    json.dump(out, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
