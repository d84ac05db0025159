"""Parallel multilingual sets through an OpenAI-compatible translator (`pinchjax translate`)."""
