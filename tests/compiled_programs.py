"""Reading compiled XLA programs in tests."""

CROSS_DEVICE_OPS = ("all-reduce", "all-gather", "all-to-all", "collective-permute",
                    "reduce-scatter")


def cross_device_ops(compiled_text: str) -> list[str]:
  """The cross-device collectives that a compiled program's text calls."""
  return [op for op in CROSS_DEVICE_OPS if op + "(" in compiled_text]
