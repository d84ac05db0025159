"""A study launched on several processes (a multi-host TPU slice, `jax.distributed`).

Every process runs `pinchjax study` with the same arguments and walks the same grid. Train
steps run SPMD on all processes (one global mesh); infer steps split the rows over the
processes (each decodes its share on its own devices) and process 0 merges the parts; data
and judge steps, the manifest, study.json, config.gin and the report are process 0's alone,
while the others wait at a barrier after each step and then read the manifest it wrote. A
kill of any process ends the launch (JAX's coordination service stops the others); rerunning
the launch command resumes from the manifest like a single-process study. The results
directory must be on a file system every process sees.
"""
from __future__ import annotations

import os

from pinchjax.data import generations

SPMD_KINDS = ("train", "infer")  # steps every process runs; the others run on process 0


class Processes:
  """One process: no one to wait for."""
  index, count = 0, 1

  @property
  def primary(self) -> bool:
    return self.index == 0

  def barrier(self, name: str) -> None:
    del name

  def all_agree(self, ok: bool) -> bool:
    """Process 0's `ok`, on every process."""
    return ok


class JaxProcesses(Processes):
  """The processes of a `jax.distributed` run (initialised by `distributed.initialize`)."""

  def __init__(self):
    import jax  # pylint: disable=import-outside-toplevel
    self.index, self.count = jax.process_index(), jax.process_count()

  def barrier(self, name: str) -> None:
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    multihost_utils.sync_global_devices(name)

  def all_agree(self, ok: bool) -> bool:
    import numpy as np  # pylint: disable=import-outside-toplevel
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    return bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))


def current() -> Processes:
  """This launch's processes: `jax.distributed` when the environment asks for several."""
  from pinchjax.train import distributed  # pylint: disable=import-outside-toplevel
  distributed.initialize()  # a no-op unless JAX_COORDINATOR_ADDRESS / PINCHJAX_MULTIHOST
  import jax  # pylint: disable=import-outside-toplevel
  return JaxProcesses() if jax.process_count() > 1 else Processes()


def part_path(out: str, index: int, count: int) -> str:
  """Where process `index` of `count` writes its share of the generations file `out`."""
  root, ext = os.path.splitext(out)
  return f"{root}.part{index}-of-{count}{ext}"


def merge_parts(out: str, count: int) -> None:
  """Writes `out` from the processes' parts, ordered by (lang, id)."""
  records: dict[tuple[str, str], dict] = {}
  for index in range(count):
    for r in generations.read(part_path(out, index, count)):
      records[(r["lang"], r["id"])] = r
  generations.write(out, [records[k] for k in sorted(records)])
