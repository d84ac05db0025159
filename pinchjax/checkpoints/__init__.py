"""Checkpoints: saving, restoring and loading models, in one place.

  checkpointer   orbax step directories of a train state, with the data position
  metadata       what a checkpoints directory says about itself (model config, vocabulary,
                 chat template)
  adapters       LoRA runs: the trainable/frozen split and the base a run's adapters go on
  load           a model from a run's checkpoints on any mesh; the default partitioner
  hf, safetensors_io
                 Hugging Face checkpoints (config.json + safetensors, peft adapters)
  lora_convert   LoRA runs <-> peft adapters and merged weights
  cli            `pinchjax convert`

train, infer, the judge, conversion and the study all load through this package; it
imports only the layers below it (model, parallel, data).
"""
