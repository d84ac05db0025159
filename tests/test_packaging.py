"""Packaging: setup.py states compatible ranges, constraints.txt the exact tested set, and pip
installs pinchjax next to a different compatible jax without touching it."""
from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import subprocess
import sys
import zipfile

import pytest
import setuptools
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setup_kwargs() -> dict:
  """The arguments setup.py passes to setuptools.setup (setup.py run, setup() recorded)."""
  got = {}
  real = setuptools.setup
  setuptools.setup = lambda **kw: got.update(kw)
  try:
    runpy.run_path(os.path.join(REPO, "setup.py"))
  finally:
    setuptools.setup = real
  return got


def requirements(kw: dict) -> list[Requirement]:
  extras = [r for rs in kw["extras_require"].values() for r in rs]
  return [Requirement(r) for r in [*kw["install_requires"], *extras]]


def constraints() -> dict[str, Version]:
  """name -> the version constraints.txt pins (every line `name==version`)."""
  out = {}
  with open(os.path.join(REPO, "constraints.txt"), encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      line = line.split("#", 1)[0].strip()
      if line:
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"constraints.txt:{n}: {line}"
        out[canonicalize_name(req.name)] = Version(specs[0].version)
  return out


def test_requirements_are_ranges_that_hold_the_tested_version(setup_kwargs):
  pinned = constraints()
  for req in requirements(setup_kwargs):
    ops = {s.operator for s in req.specifier}
    assert ops == {">=", "<"}, f"{req}: want a range >=tested,<next breaking release"
    tested = pinned.get(canonicalize_name(req.name))
    assert tested is not None, f"{req.name} is not pinned in constraints.txt"
    assert tested in req.specifier, f"{req}: excludes the tested {tested}"
    low = next(Version(s.version) for s in req.specifier if s.operator == ">=")
    assert low == Version(tested.base_version), f"{req}: lower bound is not the tested version"


def test_python_is_not_capped(setup_kwargs):
  python = SpecifierSet(setup_kwargs["python_requires"])
  assert all(s.operator == ">=" for s in python)
  assert all(v in python for v in ("3.11", "3.12", "3.13", "3.14")) and "3.10" not in python


def test_constraints_are_the_environment_the_tests_run_in(setup_kwargs):
  """`make test` installs with -c constraints.txt, so every requirement is at its pin."""
  pinned = constraints()
  for req in requirements(setup_kwargs):
    installed = Version(importlib.metadata.version(req.name))
    assert Version(installed.base_version) == pinned[canonicalize_name(req.name)], req.name


def _wheel(directory: str, name: str, version: str, requires: list[str] = (),
           python: str | None = None) -> None:
  """A minimal installable wheel: metadata only."""
  dist = f"{canonicalize_name(name).replace('-', '_')}-{version}"
  meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
  meta += [f"Requires-Python: {python}"] * bool(python) + [f"Requires-Dist: {r}" for r in requires]
  files = {f"{dist}.dist-info/METADATA": "\n".join(meta) + "\n",
           f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                      "Tag: py3-none-any\n"}
  files[f"{dist}.dist-info/RECORD"] = "".join(f"{p},,\n" for p in files) + \
      f"{dist}.dist-info/RECORD,,\n"
  with zipfile.ZipFile(os.path.join(directory, f"{dist}-py3-none-any.whl"), "w") as z:
    for path, text in files.items():
      z.writestr(path, text)


@pytest.fixture(scope="module")
def index(tmp_path_factory, setup_kwargs):
  """A local package index: pinchjax's metadata as setup.py states it, each dependency at its
  tested version, and jax/jaxlib also at a later compatible 0.10.99 and an incompatible 0.11.0."""
  d = str(tmp_path_factory.mktemp("index"))
  _wheel(d, "pinchjax", setup_kwargs["version"], setup_kwargs["install_requires"],
         setup_kwargs["python_requires"])
  pinned = constraints()
  for req in map(Requirement, setup_kwargs["install_requires"]):
    _wheel(d, req.name, str(pinned[canonicalize_name(req.name)]))
  for version in ("0.10.99", "0.11.0"):
    _wheel(d, "jax", version)
    _wheel(d, "jaxlib", version)
  return d


def _pip(venv: str, index_dir: str, *args: str) -> subprocess.CompletedProcess:
  """pip into `venv` from `index_dir` alone (no configured index or find-links)."""
  python = os.path.join(venv, "bin", "python")
  env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
  return subprocess.run([sys.executable, "-m", "pip", "--python", python,
                         "--disable-pip-version-check", "install", "--no-index", "--find-links",
                         index_dir, *args], capture_output=True, text=True, timeout=120,
                        env=dict(env, PIP_CONFIG_FILE=os.devnull))


@pytest.mark.parametrize("existing, kept", [("0.10.99", True), ("0.11.0", False)])
def test_pip_installs_pinchjax_next_to_an_existing_jax(tmp_path, index, existing, kept):
  """An environment (another tool's) already has jax: pip keeps a compatible one and replaces
  only one outside the range. Exact pins would have replaced 0.10.99 with 0.10.2."""
  venv = str(tmp_path / "venv")
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
  out = _pip(venv, index, f"jax=={existing}", f"jaxlib=={existing}")
  assert out.returncode == 0, out.stderr
  report = tmp_path / "report.json"
  out = _pip(venv, index, "--dry-run", "--report", str(report), "pinchjax")
  assert out.returncode == 0, out.stderr
  plan = {i["metadata"]["name"]: i["metadata"]["version"]
          for i in json.loads(report.read_text())["install"]}
  assert plan["pinchjax"] == "0.1.0" and "numpy" in plan
  if kept:
    assert "jax" not in plan and "jaxlib" not in plan
  else:  # the newest in range (0.10.99) replaces the incompatible 0.11.0
    assert (plan["jax"], plan["jaxlib"]) == ("0.10.99", "0.10.99")
