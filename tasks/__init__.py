"""Importing this package registers pinchjax's SeqIO tasks and mixtures (like t5.data.tasks).

What gets registered is configured in gin (or $PINCHJAX_DATA_DIR for the data root):

  import tasks
  register_configured.datasets = ['paper']        # DATA_DIR/paper/train/{lang}.jsonl
  register_configured.evalsets = ['alpacafarm']   # DATA_DIR/alpacafarm/test/{lang}.jsonl
  register_configured.vocabulary = 'models/gemma3/tokenizer.json'
  register_configured.template = 'gemma'

Import never fails because data is missing: what exists is registered and the rest is logged.
The import usually runs before gin files are parsed, so `pinchjax.data.pipeline` registers the
configured data again (idempotently) when it is asked for a name it does not know yet.
"""
import logging

from pinchjax.data import registry

try:
  registry.register_configured()
except FileNotFoundError as e:  # partial data on disk: say so, keep importing
  logging.warning("tasks: %s", e)
