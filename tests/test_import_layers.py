"""pinchjax's imports point down the pipeline: a test that reads every module's imports (the
source, with ast: module-level and function-level imports alike) and fails on an upward
import or an import cycle, naming the import.

The layers, lowest first (the README's "Architecture" section draws the same picture):

  errors, atomic_file, languages, gin_config   shared by everything, import nothing above
  clients                                      the OpenAI-compatible client, the SQLite store
  data                                         formats, tasks, vocabularies, chat templates
  model                                        config, the Transformer, logical axes (sharding)
  parallel                                     meshes, sharded init, the sharding report
  checkpoints                                  save, restore, metadata, model loading, HF
  train, infer, translate                      the stages that use a model or a client
  judge                                        verdicts over generations
  study                                        runs of the stages, results, the report
  cli                                          `pinchjax` and each stage's command module

A module may import its own package and anything in a lower layer; packages of one layer are
peers that may import each other only without forming a cycle. Command modules (`cli.py`,
`*_cli.py`) form the top layer wherever they live, since a command wires stages together.
"""
from __future__ import annotations

import ast
import collections
import pathlib

import pytest

import pinchjax

LAYERS: tuple[tuple[str, ...], ...] = (
    ("pinchjax", "errors", "atomic_file", "languages", "gin_config"),
    ("clients",),
    ("data",),
    ("model",),
    ("parallel",),
    ("checkpoints",),
    ("train", "infer", "translate"),
    ("judge",),
    ("study",),
    ("cli",),
)
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}

Import = collections.namedtuple("Import", "module target path line")


def modules(root: pathlib.Path, package: str = "pinchjax") -> dict[str, pathlib.Path]:
  """Dotted module name -> source file, for every .py file under `root` (the package)."""
  out = {}
  for path in sorted(root.rglob("*.py")):
    parts = (package,) + path.relative_to(root).with_suffix("").parts
    out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return out


def imports(mods: dict[str, pathlib.Path], package: str = "pinchjax") -> list[Import]:
  """Every import of a module of `package` by one of `mods`, resolved to the module it loads
  (`from pinchjax.x import y` loads pinchjax.x.y when that is a module)."""
  out = []
  for name, path in mods.items():
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from the module's package, up level - 1 packages
          base = name.split(".")[:len(name.split(".")) - node.level + is_package]
          source = ".".join(base + ([node.module] if node.module else []))
        else:
          source = node.module or ""
        targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source
                   for a in node.names]
      else:
        continue
      out += [Import(name, t, path, node.lineno) for t in dict.fromkeys(targets)
              if t == package or t.startswith(package + ".")]
  return out


def layer_of(module: str) -> str:
  """The layer name of a module: `cli` for command modules, else its top-level package or
  module under pinchjax (`pinchjax` for the package itself)."""
  parts = module.split(".")
  if parts[-1] == "cli" or parts[-1].endswith("_cli"):
    return "cli"
  return parts[1] if len(parts) > 1 else parts[0]


def upward(found: list[Import]) -> list[str]:
  """One line per import of a higher layer, or of a module no layer names."""
  problems = []
  for imp in found:
    src, dst = layer_of(imp.module), layer_of(imp.target)
    for name in (src, dst):
      if name not in RANK:
        problems.append(f"{imp.path}:{imp.line}: {name!r} is in no layer of LAYERS "
                        f"({imp.module} imports {imp.target}); add it where it belongs")
    if src in RANK and dst in RANK and RANK[dst] > RANK[src]:
      problems.append(f"{imp.path}:{imp.line}: {imp.module} ({src}, layer {RANK[src]}) "
                      f"imports {imp.target} ({dst}, layer {RANK[dst]}), a higher layer")
  return problems


def cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
  """The strongly connected components of more than one node (Tarjan), each sorted."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  out = []

  def visit(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    for nxt in edges.get(node, {}):
      if nxt not in index:
        visit(nxt)
        low[node] = min(low[node], low[nxt])
      elif nxt in stack:
        low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
      component = []
      while True:
        top = stack.pop()
        component.append(top)
        if top == node:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for node in sorted(edges):
    if node not in index:
      visit(node)
  return out


def cycle_report(found: list[Import], key) -> list[str]:
  """One line per cycle among the nodes `key` maps modules to, naming an import of each
  edge of the cycle."""
  edges: dict[str, dict[str, Import]] = collections.defaultdict(dict)
  for imp in found:
    a, b = key(imp.module), key(imp.target)
    if a != b:
      edges[a].setdefault(b, imp)
  lines = []
  for component in cycles(edges):
    members = set(component)
    witnesses = [edges[a][b] for a in component for b in sorted(edges[a]) if b in members]
    lines.append(f"cycle among {component}: " + "; ".join(
        f"{w.path}:{w.line}: {w.module} imports {w.target}" for w in witnesses))
  return lines


@pytest.fixture(scope="module")
def found() -> list[Import]:
  return imports(modules(pathlib.Path(pinchjax.__file__).parent))


def test_no_module_imports_a_higher_layer(found):
  assert len(found) > 300  # the walk saw the tree (every stage imports several modules)
  problems = upward(found)
  assert not problems, "imports that point up the layers:\n" + "\n".join(problems)


def test_no_import_cycle_between_layers_or_packages(found):
  problems = cycle_report(found, layer_of)
  assert not problems, "\n".join(problems)


def test_no_import_cycle_between_modules(found):
  """Within a package too: e.g. model/config.py and model/hf_config.py, one of which once
  imported the other inside a function."""
  problems = cycle_report(found, lambda m: m)
  assert not problems, "\n".join(problems)


def test_model_imports_nothing_of_parallel_train_or_infer(found):
  bad = [f"{i.path}:{i.line}: {i.target}" for i in found if layer_of(i.module) == "model"
         and layer_of(i.target) in ("parallel", "train", "infer", "checkpoints")]
  assert not bad, bad


def _tree(tmp_path: pathlib.Path, files: dict[str, str]) -> list[Import]:
  for name, text in files.items():
    path = tmp_path / "pinchjax" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
  return imports(modules(tmp_path / "pinchjax"))


def test_the_checks_name_an_upward_import_and_a_cycle(tmp_path):
  """The checker itself: a function-level upward import, a relative import and a cycle in a
  small tree are reported with file, line and the import."""
  found = _tree(tmp_path, {
      "__init__.py": "",
      "model/__init__.py": "",
      "model/layers.py": "import jax\n\ndef f():\n  from pinchjax.train import step\n",
      "model/config.py": "from . import hf_config\n",
      "model/hf_config.py": "from pinchjax.model import config\n",
      "train/__init__.py": "",
      "train/step.py": "from pinchjax.model import layers\n",
      "data/cli.py": "from pinchjax.study import runner\n",
      "study/__init__.py": "",
      "study/runner.py": "",
  })
  problems = upward(found)
  assert len(problems) == 1  # data/cli.py is a command module: the top layer
  assert problems[0].endswith("model/layers.py:4: pinchjax.model.layers (model, layer 3) "
                              "imports pinchjax.train.step (train, layer 6), a higher layer")
  layer_cycles = cycle_report(found, layer_of)
  assert len(layer_cycles) == 1 and layer_cycles[0].startswith("cycle among ['model', 'train']")
  assert "model/layers.py:4: pinchjax.model.layers imports pinchjax.train.step" in layer_cycles[0]
  module_cycles = cycle_report(found, lambda m: m)
  assert [c.split(":")[0] for c in module_cycles] == [
      "cycle among ['pinchjax.model.config', 'pinchjax.model.hf_config']",
      "cycle among ['pinchjax.model.layers', 'pinchjax.train.step']"]
  unknown = upward(_tree(tmp_path, {"newpkg/x.py": "from pinchjax.model import layers\n"}))
  assert any("'newpkg' is in no layer of LAYERS" in p for p in unknown)
