"""Callables named in gin files by import path, so the judge imports no task's code."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def resolve(spec: str | Callable[..., Any]) -> Callable[..., Any]:
  """`"package.module.name"` (or `"package.module:name"`) -> that object; callables pass."""
  if callable(spec):
    return spec
  module, sep, name = spec.rpartition(":") if ":" in spec else spec.rpartition(".")
  if not sep or not module or not name:
    raise ValueError(f"{spec!r} is not an import path like 'package.module.function'")
  try:
    obj = getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"cannot import {spec!r}: {e}") from None
  if not callable(obj):
    raise ValueError(f"{spec!r} is a {type(obj).__name__}, not a callable")
  return obj
