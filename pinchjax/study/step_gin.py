"""gin for one study step, as the stage's own command would have it: the step's gin files, its
study bindings, then its own bindings, with the macros of its inputs (DATA_DIR, the pretrained
base's BASE_CHECKPOINT and BASE_VOCABULARY) bound. Used by every executor (executors.py,
toy_base.py, diagnostics.py) and by the preflight."""
from __future__ import annotations

from typing import Sequence

import gin

from pinchjax import gin_config
from pinchjax.study import grid as grid_lib
from pinchjax.study import runner


def configure(step: grid_lib.Step, inputs: dict[str, dict[str, str]],
              extra: Sequence[str] = ()) -> None:
  """gin as the stage's command would have it for this step."""
  bindings = [*step.params.get("study_bindings", ()), *step.params.get("bindings", ())]
  if grid_lib.DATA in inputs:
    bindings.append(f"DATA_DIR = {inputs[grid_lib.DATA]['dir']!r}")
  if grid_lib.PRETRAIN in inputs:
    base = inputs[grid_lib.PRETRAIN]
    bindings += [f"BASE_CHECKPOINT = {base['checkpoint']!r}",
                 f"BASE_VOCABULARY = {base['vocabulary']!r}"]
  gin.clear_config()
  gin_config.parse_gin([runner.find_file(f) for f in step.params.get("gin_files", ())],
                       bindings + list(extra))
