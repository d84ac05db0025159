"""Reading and writing the safetensors format, tensor by tensor, bfloat16 included.

The `safetensors` package's NumPy API cannot represent bfloat16, the dtype of most released
checkpoints, so this module implements the (small, documented) format directly: an 8-byte
little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} and the raw
little-endian data. Reads are memory-mapped, so only the tensor being converted is in host
memory; writes stream one tensor at a time.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any, Callable, Iterable, Mapping

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


class SafetensorsFile:
  """A memory-mapped .safetensors file: `names()`, `shape(name)`, `dtype(name)`, `get(name)`."""

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)
    with open(self.path, "rb") as f:
      (size,) = struct.unpack("<Q", f.read(8))
      try:
        header = json.loads(f.read(size))
      except ValueError as e:
        raise ValueError(f"{self.path}: not a safetensors file ({e})") from None
    self.metadata: dict[str, str] = header.pop("__metadata__", None) or {}
    self._entries: dict[str, dict[str, Any]] = header
    self._data_start = 8 + size
    self._map = np.memmap(self.path, dtype=np.uint8, mode="r")

  def names(self) -> list[str]:
    return list(self._entries)

  def shape(self, name: str) -> tuple[int, ...]:
    return tuple(self._entries[name]["shape"])

  def dtype(self, name: str) -> np.dtype:
    code = self._entries[name]["dtype"]
    if code not in _DTYPES:
      raise ValueError(f"{self.path}: tensor {name} has unsupported dtype {code}")
    return _DTYPES[code]

  def get(self, name: str) -> np.ndarray:
    """The tensor as a read-only array backed by the file (no copy)."""
    begin, end = self._entries[name]["data_offsets"]
    dtype, shape = self.dtype(name), self.shape(name)
    if end - begin != dtype.itemsize * int(np.prod(shape)):
      raise ValueError(f"{self.path}: tensor {name} has {end - begin} bytes for shape {shape}")
    raw = self._map[self._data_start + begin:self._data_start + end]
    return raw.view(dtype).reshape(shape)


def write_file(path: str | os.PathLike,
               tensors: Iterable[tuple[str, tuple[int, ...], np.dtype, Callable[[], np.ndarray]]],
               metadata: Mapping[str, str] | None = None) -> None:
  """Writes tensors given as (name, shape, dtype, fetch); each fetch() is called once, in
  order, right before its bytes are written, so one tensor is in host memory at a time."""
  tensors = list(tensors)
  header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "pt"})}
  offset = 0
  for name, shape, dtype, _ in tensors:
    nbytes = np.dtype(dtype).itemsize * int(np.prod(shape))
    header[name] = {"dtype": _NAMES[np.dtype(dtype)], "shape": list(shape),
                    "data_offsets": [offset, offset + nbytes]}
    offset += nbytes
  blob = json.dumps(header, separators=(",", ":")).encode()
  blob += b" " * (-len(blob) % 8)  # the format recommends 8-byte aligned data
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for name, shape, dtype, fetch in tensors:
      array = np.ascontiguousarray(fetch(), dtype=dtype)  # x86 and ARM hosts are little-endian
      if array.shape != tuple(shape):
        raise ValueError(f"{path}: tensor {name} has shape {array.shape}, declared {shape}")
      f.write(array.tobytes())
