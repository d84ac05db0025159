"""pinchjax: multilingual instruction tuning studies in JAX."""

__version__ = "0.1.0"
