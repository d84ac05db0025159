"""Sharded training equals single-device training: fsdp, tensor and mixed meshes (the mixed one
with 2 microbatches), for the toy model and a Gemma-3-shaped one, over 20 steps, with exact resume.

The single-device reference and the 8-device meshes run in two subprocesses (each with its own
XLA device count); this process compares their losses and final parameters."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from pinchjax.checkpoints import load
from test_train_support import REPO, subprocess_env, tiny_data  # noqa: F401

STEPS = 20
TOL = 1e-5
# Gemma 3's architecture at toy size: GeGLU, (1 + w) RMSNorm, sandwich and q/k norms, scaled
# embeddings, sliding-window and global layers with their own RoPE bases, MQA-like GQA.
GEMMA_SHAPED = [
    "ModelConfig.family = 'gemma3'", "ModelConfig.num_heads = 4", "ModelConfig.num_kv_heads = 2",
    "ModelConfig.activation = 'gelu_tanh'", "ModelConfig.norm_plus_one = True",
    "ModelConfig.sandwich_norm = True", "ModelConfig.qk_norm = True",
    "ModelConfig.embed_scale = True", "ModelConfig.query_scale = 16.0",
    "ModelConfig.rope_theta = 1000000.0", "ModelConfig.local_rope_theta = 10000.0",
    "ModelConfig.sliding_window = 8", "ModelConfig.layer_pattern = ('local', 'global')",
]
MODELS = {"toy": [], "gemma": GEMMA_SHAPED}
MESHES = {  # name -> (mesh shape, microbatches)
    "fsdp": ({"data": 1, "fsdp": 8, "tensor": 1}, 1),
    "tensor": ({"data": 4, "fsdp": 1, "tensor": 2}, 1),
    "mixed_microbatched": ({"data": 2, "fsdp": 2, "tensor": 2}, 2),
}


def _launch(spec: dict, devices: int, tmp_path, name: str) -> tuple[subprocess.Popen, str]:
  spec_path, out = str(tmp_path / f"{name}.spec.json"), str(tmp_path / f"{name}.out.json")
  with open(spec_path, "w", encoding="utf-8") as f:
    json.dump(spec, f)
  log = open(tmp_path / f"{name}.log", "w")
  proc = subprocess.Popen([sys.executable, "tests/sharded_parity_runs.py", spec_path, out],
                          cwd=REPO, env=subprocess_env(devices), stdout=log,
                          stderr=subprocess.STDOUT)
  return proc, out


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory) -> dict:
  tmp = tmp_path_factory.mktemp("sharding_parity")
  reference = {"data": tiny_data, "steps": STEPS, "root": str(tmp / "one"), "runs": [
      {"name": m, "mesh": {"data": 1}, "bindings": b} for m, b in MODELS.items()]}
  sharded = {"data": tiny_data, "steps": STEPS, "root": str(tmp / "eight"), "runs": [
      {"name": f"{m}_{mesh}", "mesh": shape, "microbatches": mb, "bindings": b, "resume": True}
      for m, b in MODELS.items() for mesh, (shape, mb) in MESHES.items()]}
  procs = [_launch(reference, 1, tmp, "one"), _launch(sharded, 8, tmp, "eight")]
  out = {}
  for (proc, path), name in zip(procs, ("one", "eight")):
    assert proc.wait(timeout=1200) == 0, open(tmp / f"{name}.log").read()[-4000:]
    with open(path, encoding="utf-8") as f:
      out[name] = json.load(f)
  out["roots"] = {"one": reference["root"], "eight": sharded["root"]}
  return out


def _params(root: str, name: str) -> list[np.ndarray]:
  params, _ = load.load_model(os.path.join(root, name, "checkpoints"))
  return [np.asarray(x) for x in jax.tree.leaves(params)]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mesh", MESHES)
def test_sharded_run_equals_single_device_run_and_resumes_exactly(runs, model, mesh):
  name = f"{model}_{mesh}"
  ref = runs["one"][model]["losses"]
  got = runs["eight"][name]
  assert sorted(map(int, ref)) == list(range(1, STEPS + 1))
  diff = max(abs(got["losses"][s] - ref[s]) for s in ref)
  resumed = max(abs(got["resumed"][s] - got["losses"][s]) for s in ref)
  # Final parameters: the resumed run's checkpoint (step 20) against the reference's.
  pairs = list(zip(_params(runs["roots"]["eight"], name), _params(runs["roots"]["one"], model)))
  params = max(float(np.max(np.abs(a - b))) for a, b in pairs)
  print(f"{name}: max |loss - single device| {diff:.2e}; resumed vs uninterrupted "
        f"{resumed:.2e}; max |final param - single device| {params:.2e}")
  assert diff <= TOL
  assert resumed <= TOL
  # the loss moved: the comparison is not of two untrained models
  assert ref[str(STEPS)] < ref["1"] - 0.1
  assert len(pairs) > 10 and params <= TOL
