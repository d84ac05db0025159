"""A study that pretrains its own base (a `pretrain` step), diagnoses it, tunes from it, and
the ablation that tabulates such studies: tiny, real, end to end."""
import json
import os

import gin

from pinchjax import cli
from pinchjax.study import ablation, grid

ABLATION = """
Ablation.study = 'gin/studies/toy_ablation_base.gin'
Ablation.bases = {'tiny': ["build_toyworld.sentences_per_language = 800",
                           "build_toyworld.list_items = 20",
                           "build_toyworld.languages = ['en', 'fi', 'zh']",
                           "Study.data_languages = ['en', 'fi', 'zh']",
                           "Study.data_seen = ['en', 'fi']",
                           "PRETRAIN_STEPS = 3", "ModelConfig.d_model = 32",
                           "ModelConfig.num_heads = 2", "ModelConfig.head_dim = 16",
                           "ModelConfig.num_kv_heads = 1", "ModelConfig.mlp_dim = 64",
                           "ModelConfig.num_layers = 2", "VOCAB_SIZE = 700",
                           "Study.train = {'gin_files': ['gin/studies/toy_tune.gin'], "
                           "'bindings': ['TRAIN_STEPS = 2', 'BATCH_SIZE = 8', "
                           "'make_schedule.warmup_steps = 1']}",
                           "Study.infer = {'gin_files': ['gin/studies/toy_infer.gin'], "
                           "'bindings': ['DecodeConfig.max_new_tokens = 4']}",
                           "Study.diagnose = {'fn': 'pinchjax.study.diagnostics.toyworld', "
                           "'kwargs': {'list_items': 20, 'max_items': 32}}"]}
"""


def test_grid_orders_pretrain_before_every_step_that_uses_the_base():
  study = grid.Study(name="t", dataset="toy", evalset="toyeval", experiments=["mono"],
                     languages=["en", "fi"], data={"fn": "f"}, pretrain={"gin_files": []},
                     diagnose={"fn": "g"})
  steps = grid.expand(study).steps
  ids = [s.id for s in steps]
  assert ids[:3] == [grid.DATA, grid.PRETRAIN, grid.DIAGNOSE]
  for s in steps:
    if s.kind in ("train", "infer", "diagnose"):
      assert grid.PRETRAIN in s.deps, s.id
  assert "infer/base/fi" in ids  # the pretrained base is scored like a given one


def test_pretrain_needs_data_and_replaces_base_checkpoint():
  for kwargs in ({}, {"data": {"fn": "f"}, "base_checkpoint": "toy_base/checkpoint"}):
    try:
      grid.Study(name="t", dataset="toy", evalset="toyeval", pretrain={}, **kwargs)
    except ValueError as e:
      assert "Study.pretrain" in str(e)
    else:
      raise AssertionError(f"accepted {kwargs}")


def test_ablation_pretrains_diagnoses_tunes_and_tabulates(tmp_path, monkeypatch):
  monkeypatch.chdir(cli.REPO_ROOT)
  monkeypatch.setenv("XLA_FLAGS", "")
  (tmp_path / "ablation.gin").write_text(ABLATION)
  try:
    assert ablation.main([str(tmp_path / "ablation.gin"), "--results", str(tmp_path)]) == 0
  finally:
    gin.clear_config()
  out = tmp_path / "tiny"
  manifest = json.loads((out / "manifest.json").read_text())["steps"]
  assert {e["status"] for e in manifest.values()} == {"done"}, {
      k: e.get("error") for k, e in manifest.items() if e["status"] != "done"}
  base = out / "steps" / "pretrain" / "base"
  facts = json.loads((base / "facts.json").read_text())
  assert facts["steps"] == 3 and facts["parameters"] < 100_000
  # Tuning started from this base, not the shipped one (whose shapes differ), and with its
  # vocabulary.
  tuned = out / "steps" / "train" / "mono_en_s0"
  config = (tuned / "config.gin").read_text().replace("\\\n", "")
  assert "train.init_checkpoint_dir = %BASE_CHECKPOINT" in config
  assert f"'{base / 'checkpoint'}'" in config.split("BASE_CHECKPOINT = ")[1].split("\n")[0]
  assert ((tuned / "checkpoints" / "vocab.model").read_bytes()
          == (base / "vocab.model").read_bytes())
  diag = json.loads((out / "steps" / "diagnose" / "base" / "diagnostics.json").read_text())
  assert set(diag["languages"]) == {"en", "fi", "zh"}
  assert len(diag["languages"]["fi"]["similarity"]) == 3  # embeddings and 2 blocks
  report = (out / "report" / "report.md").read_text()
  assert "## The base model's knowledge" in report
  rows = json.loads((tmp_path / "ablation.json").read_text())
  assert rows["tiny"]["run"]["status"] == 0
  assert rows["tiny"]["pretraining"]["steps"] == 3
  assert set(rows["tiny"]["gain"]) == {"en", "fi", "zh"}
  assert all(rows["tiny"]["gain"][l] is not None for l in ("fi", "zh"))
  table = (tmp_path / "ablation.md").read_text()
  assert "| tiny | " in table and "gain fi [95%]" in table
