"""Importing this package registers pinchjax's SeqIO tasks and mixtures (like t5.data.tasks)."""
