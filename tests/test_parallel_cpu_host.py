"""CPU decoding flags: added before JAX starts, a user's own XLA_FLAGS win, too late is a no-op;
the decode mesh splits weights as far as the model divides."""
import json
import os
import subprocess
import sys

import gin
import jax
import pytest

from pinchjax.checkpoints import load
from pinchjax.model import hf_config
from pinchjax.model.config import ModelConfig
from pinchjax.parallel import cpu_host

PROBE = ("import os, jax; from pinchjax.parallel import cpu_host; "
         "print(cpu_host.use_for_decoding(cores=3)); print(len(jax.devices())); "
         "print(os.environ['XLA_FLAGS'])")


def _probe(xla_flags: str | None) -> list[str]:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                       check=True, timeout=120)
  return out.stdout.split("\n")


def test_flags_apply_when_set_before_jax_starts():
  applied, devices, flags = _probe(None)[:3]
  assert (applied, devices) == ("True", "3")
  assert flags.split() == ["--xla_force_host_platform_device_count=3",
                           "--xla_cpu_experimental_ynn_fusion_type="]


def test_flags_already_in_xla_flags_are_kept():
  applied, devices, flags = _probe("--xla_force_host_platform_device_count=2")[:3]
  assert (applied, devices) == ("True", "2")
  assert flags.split() == ["--xla_force_host_platform_device_count=2",
                           "--xla_cpu_experimental_ynn_fusion_type="]


def test_too_late_once_jax_has_started():
  import jax  # pylint: disable=import-outside-toplevel
  jax.devices()
  before = os.environ.get("XLA_FLAGS")
  assert cpu_host.use_for_decoding() is False
  assert os.environ.get("XLA_FLAGS") == before


def _cfg(heads=8, kv_heads=4, mlp=64, vocab=96):
  return ModelConfig(vocab_size=vocab, d_model=16, num_layers=1, num_heads=heads,
                     num_kv_heads=kv_heads, head_dim=4, mlp_dim=mlp)


@pytest.mark.parametrize("cfg, devices, shape", [
    (_cfg(), 8, (2, 4)),  # 4 kv heads: weights over 4 devices, rows over 2
    (_cfg(kv_heads=8), 8, (1, 8)),
    (_cfg(kv_heads=1), 8, (8, 1)),  # one kv head: rows only
    (_cfg(vocab=97), 8, (8, 1)),  # an odd vocabulary cannot be split
    (_cfg(heads=6, kv_heads=3, mlp=12), 6, (2, 3)),
])
def test_decode_mesh_splits_weights_as_far_as_the_model_divides(cfg, devices, shape):
  mesh = cpu_host.decode_mesh(cfg, jax.devices()[:devices])
  assert (mesh.shape["data"], mesh.shape["fsdp"], mesh.shape["tensor"]) == (shape[0], 1,
                                                                            shape[1])


def test_default_mesh_of_a_checkpoint_unless_gin_names_one(tmp_path):
  with open(tmp_path / "config.json", "w", encoding="utf-8") as f:
    json.dump(hf_config.hf_from_fields(_cfg()), f)
  assert dict(load.default_partitioner(str(tmp_path)).mesh.shape) == {"data": 2, "fsdp": 1,
                                                                       "tensor": 4}
  with gin.unlock_config():
    gin.bind_parameter("make_mesh.shape", {"data": -1})
  try:
    assert dict(load.default_partitioner(str(tmp_path)).mesh.shape) == {
        "data": 8, "fsdp": 1, "tensor": 1}
  finally:
    gin.clear_config()
