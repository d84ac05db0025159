"""LoRA tuning: only the adapters train and are checkpointed; the base stays bit-identical;
the optimiser state holds only adapter slots; a resumed run reproduces every step."""
import json
import os
import shutil
import signal
import threading
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from pinchjax import cli
from pinchjax.parallel import mesh as mesh_lib
from pinchjax.parallel import partition
from pinchjax.model.sharding import Partitioner
from pinchjax.checkpoints import adapters, checkpointer as checkpoint, load, metadata
from test_train_support import read_metrics, tiny_data, train_in_process  # noqa: F401

LORA = dict(lora_rank=4, lora_alpha=8.0, lora_dropout=0.1)
STEPS = 6


@pytest.fixture(scope="module")
def base_dir(tiny_data, tmp_path_factory):
  """A fully tuned tiny run (3 steps): the LoRA runs' frozen base."""
  model_dir = str(tmp_path_factory.mktemp("lora_base") / "run")
  train_in_process(tiny_data, model_dir, 3, checkpoint_every=3)
  return os.path.join(model_dir, "checkpoints")


@pytest.fixture(scope="module")
def lora_run(tiny_data, base_dir, tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("lora_run") / "run")
  result = train_in_process(tiny_data, model_dir, STEPS, checkpoint_every=3,
                            init_checkpoint_dir=base_dir, **LORA)
  return {"model_dir": model_dir, "result": result}


def _flat(tree) -> dict:
  return {jax.tree_util.keystr(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _base_params(base_dir):
  cfg = metadata.load_model_config(base_dir)
  target = load.abstract_params(cfg, Partitioner.create(mesh_lib.make_mesh()))
  return cfg, checkpoint.load_params(base_dir, target)


def test_only_adapters_train_and_the_base_is_unchanged(lora_run, base_dir):
  ckpt_dir = lora_run["result"].checkpoint_dir
  model, cfg = load.load_model(ckpt_dir)
  assert (cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout) == (4, 8.0, 0.1)
  _, base = _base_params(base_dir)
  params = nnx.to_pure_dict(nnx.state(model))
  mask = adapters.trainable_mask(nnx.state(model))
  tuned_adapters, frozen = adapters.split(params, mask)
  base_flat, frozen_flat = _flat(base), _flat(frozen)
  assert base_flat.keys() == frozen_flat.keys()
  for k in base_flat:  # bit-identical base
    np.testing.assert_array_equal(frozen_flat[k], base_flat[k], err_msg=k)
  # B starts at zero; after training every B has moved.
  b_norms = {k: np.abs(v).max() for k, v in _flat(tuned_adapters).items() if k.endswith("['b']")}
  assert len(b_norms) == 2 * 7 and min(b_norms.values()) > 0
  ref = json.load(open(os.path.join(ckpt_dir, adapters.BASE_REF)))
  assert ref["kind"] == "pinchjax" and ref["path"] == os.path.abspath(base_dir)
  assert ref["step"] == 3 and len(ref["fingerprint"]) == 64


def _shapes(tree) -> dict[str, tuple[int, ...]]:
  """'/'-joined path -> shape of every array (or array metadata) leaf."""
  leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: hasattr(x, "shape"))[0]
  return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in p): tuple(v.shape)
          for p, v in leaves}


def test_checkpoint_and_optimizer_hold_only_adapters(lora_run):
  ckpt_dir = lora_run["result"].checkpoint_dir
  _, abstract = partition.abstract_model(metadata.load_model_config(ckpt_dir))
  adapter_tree, base_tree = adapters.split(nnx.to_pure_dict(abstract),
                                           adapters.trainable_mask(abstract))
  adapter_shapes, base_shapes = _shapes(adapter_tree), _shapes(base_tree)
  saved = lambda item: ocp.StandardCheckpointer().metadata(
      os.path.join(ckpt_dir, str(STEPS), item)).item_metadata.tree
  assert _shapes(saved("params")) == adapter_shapes  # the checkpoint holds adapters only
  nbytes = lambda shapes: sum(4 * int(np.prod(s)) for s in shapes.values())
  opt = _shapes(saved("optimizer")["opt_state"])
  # AdamW: two slots shaped like each adapter, plus scalar counts; nothing of the base.
  assert sorted(s for s in opt.values() if s) == sorted(2 * list(adapter_shapes.values()))
  assert 2 * nbytes(adapter_shapes) <= nbytes(opt) <= 2 * nbytes(adapter_shapes) + 64
  assert nbytes(opt) < 2 * nbytes(base_shapes) / 4  # full tuning: 2 slots of every weight


def test_sigterm_then_resume_reproduces_every_step(tiny_data, base_dir, lora_run, tmp_path):
  model_dir = str(tmp_path / "run")
  metrics = os.path.join(model_dir, "metrics.jsonl")

  def preempt():  # SIGTERM this process once two steps are logged
    while not (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 2):
      time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)

  threading.Thread(target=preempt, daemon=True).start()
  first = train_in_process(tiny_data, model_dir, STEPS, checkpoint_every=3,
                           init_checkpoint_dir=base_dir, **LORA)
  assert first.preempted and 2 <= first.step < STEPS
  second = train_in_process(tiny_data, model_dir, STEPS, checkpoint_every=3,
                            init_checkpoint_dir=base_dir, **LORA)
  assert second.step == STEPS and not second.preempted
  got = {r["step"]: r["loss"] for r in read_metrics(model_dir)}
  want = {r["step"]: r["loss"] for r in read_metrics(lora_run["model_dir"])}
  assert sorted(got) == list(range(1, STEPS + 1))
  for s in got:  # dropout keys, data position and adapters all resume exactly
    assert got[s] == want[s], (s, got[s], want[s])
  adapters_of = lambda d: _flat(adapters.split(
      nnx.to_pure_dict(nnx.state(load.load_model(d)[0])),
      adapters.trainable_mask(nnx.state(load.load_model(d)[0])))[0])
  a, b = adapters_of(second.checkpoint_dir), adapters_of(lora_run["result"].checkpoint_dir)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_a_changed_base_is_refused(tiny_data, base_dir, lora_run, tmp_path):
  ref = adapters.read_reference(lora_run["result"].checkpoint_dir)
  with pytest.raises(ValueError, match="has changed since the adapters were trained"):
    adapters.check_reference({**ref, "step": 1, "fingerprint": ref["fingerprint"]}, "x")
  with pytest.raises(ValueError, match="needs a base"):
    train_in_process(tiny_data, str(tmp_path / "nobase"), 2, **LORA)


def _logits(model, vocab=64):
  tokens = np.asarray(jax.random.randint(jax.random.key(0), (2, 10), 0, vocab), np.int32)
  positions = np.broadcast_to(np.arange(10, dtype=np.int32), (2, 10))
  return tokens, np.asarray(model(tokens, positions)[0])


def test_convert_adapter_to_peft_merge_and_back(lora_run, base_dir, tmp_path):
  import peft  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  run = lora_run["result"].checkpoint_dir
  model, cfg = load.load_model(run)
  tokens, ours = _logits(model)
  hf_base, adapter, merged, back = (str(tmp_path / n) for n in ("base", "adapter", "merged",
                                                                 "back"))
  assert cli.main(["convert", "pinchjax-to-hf", base_dir, hf_base]) == 0
  assert cli.main(["convert", "pinchjax-to-hf", run, adapter, "--adapter",
                   "--base_model", hf_base]) == 0
  assert cli.main(["convert", "pinchjax-to-hf", run, merged, "--merge"]) == 0
  torch_logits = lambda m: m(input_ids=torch.tensor(tokens, dtype=torch.long)).logits.detach(
      ).numpy()
  on_base = peft.PeftModel.from_pretrained(
      transformers.AutoModelForCausalLM.from_pretrained(hf_base), adapter).eval()
  np.testing.assert_allclose(torch_logits(on_base), ours, atol=1e-4)
  np.testing.assert_allclose(torch_logits(
      transformers.AutoModelForCausalLM.from_pretrained(merged).eval()), ours, atol=1e-4)

  # peft adapter -> a pinchjax LoRA checkpoint on the pinchjax base: the same adapters, bit
  # for bit, and the base's vocabulary along.
  assert cli.main(["convert", "hf-to-pinchjax", adapter, back, "--adapter",
                   "--base", base_dir]) == 0
  again, cfg_back = load.load_model(back)
  assert cfg_back == cfg
  for (p, a), (_, b) in zip(nnx.to_flat_state(nnx.state(again)),
                            nnx.to_flat_state(nnx.state(model)), strict=True):
    np.testing.assert_array_equal(np.asarray(a.get_value()), np.asarray(b.get_value()),
                                  err_msg=str(p))
  assert metadata.load_tokenization(back) is not None
  # without --adapter/--merge a LoRA run cannot become plain HF weights
  assert cli.main(["convert", "pinchjax-to-hf", run, str(tmp_path / "plain")]) == 1


def test_infer_loads_base_and_adapters(lora_run, base_dir, tmp_path):
  from pinchjax.infer import loading  # pylint: disable=import-outside-toplevel
  run = lora_run["result"].checkpoint_dir
  _, want = _logits(load.load_model(run)[0])
  generator = loading.load_generator(run)
  assert generator.model.cfg.lora_rank == 4
  np.testing.assert_allclose(_logits(generator.model)[1], want, atol=1e-6)
  moved = str(tmp_path / "moved")
  shutil.copytree(base_dir, moved)
  np.testing.assert_allclose(_logits(loading.load_generator(run, lora_base=moved).model)[1],
                             want, atol=1e-6)
  with open(os.path.join(moved, "model_config.json"), "a") as f:
    f.write(" ")  # any change of the base's config or weight files is a different base
  with pytest.raises(ValueError, match="has changed since the adapters were trained"):
    loading.load_generator(run, lora_base=moved)


def test_lora_on_a_hugging_face_base(tiny_data, base_dir, tmp_path):
  from pinchjax.checkpoints import hf  # pylint: disable=import-outside-toplevel
  hf_base = str(tmp_path / "hf_base")
  assert cli.main(["convert", "pinchjax-to-hf", base_dir, hf_base]) == 0
  result = train_in_process(tiny_data, str(tmp_path / "run"), 2, init_hf_dir=hf_base,
                            lora_rank=2, lora_targets=["q_proj", "v_proj"])
  ref = adapters.read_reference(result.checkpoint_dir)
  assert (ref["kind"], ref["path"], ref["step"]) == ("hf", hf_base, None)
  model, cfg = load.load_model(result.checkpoint_dir)
  assert (cfg.family, cfg.lora_rank, cfg.lora_targets) == ("llama", 2, ("q_proj", "v_proj"))
  tuned, frozen = adapters.split(nnx.to_pure_dict(nnx.state(model)),
                                 adapters.trainable_mask(nnx.state(model)))
  assert sorted(_flat(tuned)) == sorted(f"['layers'][{i}]['attn']['{t}_lora']['{ab}']"
                                        for i in (0, 1) for t in "qv" for ab in "ab")
  _, base = hf.load_hf(hf_base)
  want = _flat(nnx.to_pure_dict(base))
  for k, v in _flat(frozen).items():
    np.testing.assert_array_equal(v, want[k], err_msg=k)
