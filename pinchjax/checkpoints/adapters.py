"""LoRA tuning's bookkeeping: trainable/frozen parameter split, and the base reference.

A LoRA run trains and checkpoints only the adapters (`nnx.LoRAParam`); the base weights stay
frozen outside the train state (no gradients, no optimiser slots, not in checkpoints). The
run's `checkpoints/lora_base.json` names the base: its path, kind ("pinchjax": a run's
checkpoints directory at a step, or "hf": a Hugging Face directory) and a fingerprint
(sha256 over its config file and its weight files' names and sizes), so that a resume,
`pinchjax infer`/`serve` or an export finds the same base, or refuses a changed one.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from flax import nnx

BASE_REF = "lora_base.json"
PureDict = dict[Any, Any]


def trainable_mask(abstract: nnx.State) -> PureDict:
  """The pure-dict tree of `abstract` with True on adapter (nnx.LoRAParam) leaves."""
  flat = nnx.to_flat_state(abstract)
  out: PureDict = {}
  for path, var in flat:
    node = out
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = isinstance(var, nnx.LoRAParam)
  return out


def split(tree: PureDict, mask: PureDict) -> tuple[PureDict, PureDict]:
  """(leaves where mask is True, the others), as pure dicts without empty branches."""
  yes, no = {}, {}
  for key, value in tree.items():
    if isinstance(value, dict):
      a, b = split(value, mask[key])
      if a:
        yes[key] = a
      if b:
        no[key] = b
    else:
      (yes if mask[key] else no)[key] = value
  return yes, no


def merge(a: PureDict | None, b: PureDict) -> PureDict:
  """The union of two pure dicts with disjoint leaves."""
  if not a:
    return b
  out = dict(a)
  for key, value in b.items():
    out[key] = merge(out[key], value) if key in out else value
  return out


def _file_list(root: str) -> list[tuple[str, int]]:
  out = []
  for dirpath, _, names in os.walk(root):
    for name in names:
      path = os.path.join(dirpath, name)
      out.append((os.path.relpath(path, root), os.path.getsize(path)))
  return sorted(out)


def fingerprint(kind: str, path: str, step: int | None = None) -> str:
  """sha256 of a base's config file and its weight files' names and sizes."""
  if kind == "hf":
    config = os.path.join(path, "config.json")
    files = [(n, s) for n, s in _file_list(path) if n.endswith((".safetensors", ".json"))]
  else:
    config = os.path.join(path, "model_config.json")
    files = _file_list(os.path.join(path, str(step)))
  with open(config, "rb") as f:
    digest = hashlib.sha256(f.read())
  digest.update(json.dumps(files).encode())
  return digest.hexdigest()


def base_reference(init_checkpoint_dir: str | None, init_hf_dir: str | None,
                   step: int | None) -> dict[str, Any]:
  """The reference to a LoRA run's base: a pinchjax checkpoint (at `step`) or an HF dir."""
  if init_hf_dir:
    path, kind = os.path.abspath(init_hf_dir), "hf"
  elif init_checkpoint_dir:
    path, kind = os.path.abspath(init_checkpoint_dir), "pinchjax"
  else:
    raise ValueError("LoRA tuning (train.lora_rank > 0) needs a base: set "
                     "train.init_checkpoint_dir or train.init_hf_dir")
  return {"kind": kind, "path": path, "step": step,
          "fingerprint": fingerprint(kind, path, step)}


def save_reference(checkpoint_dir: str, ref: dict[str, Any]) -> None:
  os.makedirs(checkpoint_dir, exist_ok=True)
  with open(os.path.join(checkpoint_dir, BASE_REF), "w", encoding="utf-8") as f:
    json.dump(ref, f, indent=1)


def read_reference(checkpoint_dir: str, base: str | None = None) -> dict[str, Any]:
  """The base reference of a LoRA run's checkpoints; `base` overrides its path (a moved
  base), which must still have the recorded fingerprint."""
  path = os.path.join(checkpoint_dir, BASE_REF)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} is missing: a LoRA checkpoint names its base there")
  with open(path, encoding="utf-8") as f:
    ref = json.load(f)
  if base:
    ref = {**ref, "path": os.path.abspath(base)}
  check_reference(ref, path)
  return ref


def check_reference(ref: dict[str, Any], where: str) -> None:
  """Raises if the base at ref["path"] is missing or differs from the recorded fingerprint."""
  if not os.path.isdir(ref["path"]):
    raise FileNotFoundError(f"{where}: the LoRA base {ref['path']} is not a directory "
                            "(moved? pass its new path)")
  found = fingerprint(ref["kind"], ref["path"], ref["step"])
  if found != ref["fingerprint"]:
    raise ValueError(f"{where}: the LoRA base {ref['path']} has changed since the adapters "
                     f"were trained (fingerprint {found[:12]} != {ref['fingerprint'][:12]})")
