"""The trainer in-process on the real model and pipeline: learning, eval, NaN stop, meshes."""
import errno
import glob
import os

import jax
import numpy as np
import pytest

from pinchjax.parallel import mesh as mesh_lib
from pinchjax.data import pipeline
from pinchjax.checkpoints import load
from pinchjax.model.sharding import Partitioner
from pinchjax.train import trainer
from test_train_support import read_metrics, tiny_data, train_in_process  # noqa: F401


def test_loss_falls_and_eval_loss_per_language(tiny_data, tmp_path):
  model_dir = str(tmp_path / "run")
  result = train_in_process(tiny_data, model_dir, 200, log_every=50, checkpoint_every=1000,
                            eval_tasks=["tiny_en", "tiny_fi", "tiny_sw"], eval_every=100)
  train = read_metrics(model_dir)
  assert [m["step"] for m in train] == list(range(1, 201))
  first, last = np.mean([m["loss"] for m in train[:5]]), np.mean([m["loss"] for m in train[-5:]])
  assert first > 3.0  # about log(vocab) at random init
  assert last < 0.4 * first
  evals = read_metrics(model_dir, "eval")
  assert [e["step"] for e in evals] == [100, 200]
  for lang in ("en", "fi", "sw"):
    assert evals[-1][f"eval/loss/{lang}"] < 0.5 * first
    assert result.eval_losses[f"eval/loss/{lang}"] == pytest.approx(evals[-1][f"eval/loss/{lang}"])
  assert {"learning_rate", "grad_norm", "tokens_per_sec", "mfu", "z_loss"} <= set(train[-1])
  assert 0 < train[-1]["mfu"] < 1
  assert glob.glob(os.path.join(model_dir, "events.out.tfevents.*"))
  assert result.step == 200 and not result.preempted
  assert sorted(os.listdir(result.checkpoint_dir)) == ["200", "model_config.json", "vocab.model",
                                                    "vocabulary.json"]


def test_nan_stops_with_error_and_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
  real_next = pipeline.DatasetIterator.__next__

  def poisoned(self):  # a NaN loss weight in the 6th batch makes the 6th step's loss NaN
    batch = real_next(self)
    if self.batches == 6:
      batch["decoder_loss_weights"] = batch["decoder_loss_weights"].astype(np.float32)
      batch["decoder_loss_weights"][0, -1] = np.nan
    return batch

  monkeypatch.setattr(pipeline.DatasetIterator, "__next__", poisoned)
  model_dir = str(tmp_path / "run")
  with pytest.raises(trainer.NonFiniteError,
                     match=r"step 6: loss = nan, grad_norm = nan.*checkpoint is step 4"):
    train_in_process(tiny_data, model_dir, 20, checkpoint_every=2)
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  assert sorted(os.listdir(ckpt_dir)) == ["2", "4", "model_config.json", "vocab.model",
                                         "vocabulary.json"]
  model, _ = load.load_model(ckpt_dir)
  assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(model))
  assert [m["step"] for m in read_metrics(model_dir)] == list(range(1, 6))


def test_checkpoint_from_2x2x2_mesh_restores_on_4_devices(tiny_data, tmp_path):
  model_dir = str(tmp_path / "run")
  train_in_process(tiny_data, model_dir, 2, extra=(
      "make_mesh.shape = {'data': 2, 'fsdp': 2, 'tensor': 2}",))
  ckpt_dir = os.path.join(model_dir, "checkpoints")
  mesh8 = mesh_lib.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  mesh4 = mesh_lib.make_mesh({"data": 1, "fsdp": 2, "tensor": 2}, devices=jax.devices()[:4])
  on8, _ = load.load_model(ckpt_dir, Partitioner.create(mesh8))
  on4, cfg = load.load_model(ckpt_dir, Partitioner.create(mesh4))
  assert cfg.d_model == 32
  leaves8, leaves4 = jax.tree.leaves(on8), jax.tree.leaves(on4)
  assert len(leaves4) == len(leaves8) > 0
  for a, b in zip(leaves8, leaves4):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert {d.id for d in leaves4[0].sharding.device_set} <= {0, 1, 2, 3}
  embed = on4.embed[...]  # [vocab, embed] -> ("tensor", "fsdp") under the default rules
  assert embed.sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp")
  assert embed.addressable_shards[0].data.shape == (32, 16)


def test_init_from_hugging_face_then_from_a_pinchjax_checkpoint(tiny_data, tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  torch.manual_seed(0)
  hf_dir = str(tmp_path / "hf")
  transformers.LlamaForCausalLM(transformers.LlamaConfig(
      vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
      num_attention_heads=2, num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
      max_position_embeddings=64)).save_pretrained(hf_dir)
  frozen = ("make_schedule.peak_learning_rate = 0.0",)  # one step that changes nothing
  from_hf = str(tmp_path / "from_hf")
  train_in_process(tiny_data, from_hf, 1, extra=frozen, init_hf_dir=hf_dir)
  model, cfg = load.load_model(os.path.join(from_hf, "checkpoints"))
  assert cfg.family == "llama" and cfg.num_kv_heads == 1
  hf_embed = transformers.LlamaForCausalLM.from_pretrained(hf_dir).model.embed_tokens.weight
  np.testing.assert_array_equal(np.asarray(model.embed[...]), hf_embed.detach().numpy())

  tuned = str(tmp_path / "tuned")
  train_in_process(tiny_data, tuned, 1, extra=frozen,
                   init_checkpoint_dir=os.path.join(from_hf, "checkpoints"))
  again, _ = load.load_model(os.path.join(tuned, "checkpoints"))
  for a, b in zip(jax.tree.leaves(model), jax.tree.leaves(again)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_configuration_errors_are_named(tiny_data, tmp_path):
  import gin
  from pinchjax import cli
  gin.clear_config()
  try:
    cli.parse_gin(["gin/runs/tune.gin"], ["MODEL_DIR = '/nonexistent'"])
    with pytest.raises(ValueError, match="train.mixture_or_task_name is required"):
      trainer.train()
  finally:
    gin.clear_config()
  with pytest.raises(ValueError, match="batch_size 8 / microbatches 3 must be a whole multiple "
                                       "of the 8 batch shards"):
    train_in_process(tiny_data, str(tmp_path / "run"), 2, microbatches=3)


def test_an_unusable_run_directory_is_an_os_error_naming_the_path(tiny_data, tmp_path):
  (tmp_path / "file").write_text("")  # a file where the run directory would go
  os.makedirs(tmp_path / "run")
  (tmp_path / "run" / "checkpoints").write_text("")  # ... where its checkpoints would go
  for model_dir, blocked, why in (
      (tmp_path / "file" / "run", tmp_path / "file" / "run", errno.ENOTDIR),
      (tmp_path / "run", tmp_path / "run" / "checkpoints", errno.EEXIST)):
    with pytest.raises(trainer.RunDirectoryError) as e:
      train_in_process(tiny_data, str(model_dir), 2)
    assert isinstance(e.value, OSError)
    # gin appends lines naming the configurable; the first line is the error itself.
    assert str(e.value).splitlines()[0] == (
        f"[Errno {why}] cannot write the run directory train.model_dir "
        f"({os.strerror(why)}): '{blocked}'")
