"""Test-wide set-up: 8 simulated CPU devices for the sharding tests, no GPU probing."""
import os

import gin
import pytest

# Must be set before JAX initialises its backends (i.e. before any test imports jax).
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def language_registry():
  """The language registry and gin are process-wide (cli.main parses gin and registers
  languages): a test that uses this leaves both as it found them."""
  from pinchjax import languages  # pylint: disable=import-outside-toplevel
  saved = dict(languages._REGISTRY)
  gin.clear_config()
  yield languages
  gin.clear_config()
  languages._REGISTRY.clear()
  languages._REGISTRY.update(saved)
