"""pinchjax: multilingual instruction tuning studies in JAX."""

__version__ = "0.1.0"


class UsageError(ValueError):
  """Something the user must pass or fix; a command reports it as one line, no traceback."""
