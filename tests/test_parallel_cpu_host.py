"""CPU decoding flags: added before JAX starts, a user's own XLA_FLAGS win, too late is a no-op."""
import os
import subprocess
import sys

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
