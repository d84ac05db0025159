"""Vocabularies (sentencepiece, Hugging Face tokenizer.json) and chat templates."""
import json

import numpy as np
import pytest
import seqio
import tensorflow as tf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from pinchjax.data import chat, pipeline, registry, synthetic, vocab

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
  d = tmp_path_factory.mktemp("hf")
  sets = synthetic.parallel_set(50, ("en", "fi"))
  texts = [t for recs in sets.values() for r in recs for t in (r.instruction, r.response)]
  tok = Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  tok.train_from_iterator(texts + ["user model hello world"], trainers.BpeTrainer(
      vocab_size=400, special_tokens=SPECIALS,
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
  tok.save(str(d / "tokenizer.json"))
  (d / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<eos>", "bos_token": {"content": "<bos>"}}))
  return d


def test_hf_vocabulary_ids_encode_decode(hf_dir):
  v = vocab.get_vocabulary(str(hf_dir))
  assert isinstance(v, vocab.HfTokenizerVocabulary)
  assert (v.eos_id, v.bos_id, v.unk_id) == (1, 2, 3)
  assert chat.start_id(v) == 2
  prompt = chat.format_prompt("gemma", "enab enac hello")
  ids = v.encode(prompt)
  assert ids[0] == 4  # <start_of_turn> is one token, not split into characters
  assert ids.count(5) == 1  # <end_of_turn>
  assert v.decode(ids + [v.eos_id, 9, 9]) == prompt  # cut at EOS, EOS not in the text
  np.testing.assert_array_equal(v.encode_tf(tf.constant(prompt)).numpy(), ids)
  batch = tf.constant([ids[:4] + [1, 7], ids[:5] + [1]], tf.int32)
  got = [s.decode() for s in v.decode_tf(batch).numpy()]
  assert got == [v.decode(ids[:4]), v.decode(ids[:5])]
  assert chat.stop_token_ids("gemma", v) == (1, 5)
  assert v == vocab.get_vocabulary(str(hf_dir / "tokenizer.json"))
  assert v.vocab_size == 400


def test_hf_vocabulary_errors(hf_dir, tmp_path):
  (tmp_path / "tokenizer.json").write_bytes((hf_dir / "tokenizer.json").read_bytes())
  with pytest.raises(ValueError, match="no EOS token; pass eos_token"):
    vocab.HfTokenizerVocabulary(str(tmp_path))
  with pytest.raises(ValueError, match="'</s>' is not a token"):
    vocab.HfTokenizerVocabulary(str(tmp_path), eos_token="</s>")
  with pytest.raises(ValueError, match="expected a sentencepiece .model"):
    vocab.get_vocabulary(str(tmp_path / "x.txt"))


def test_gemma_features_with_hf_vocabulary(hf_dir, tmp_path):
  synthetic.write_parallel_set(str(tmp_path), "thf", 30, ("en", "fi"))
  v = vocab.get_vocabulary(str(hf_dir))
  registry.register_dataset("thf", str(tmp_path), v, "gemma", languages=("en", "fi"),
                            seen=("en", "fi"), n_orderings=1, percents=(0, 50))
  ds = pipeline.get_dataset("thf_pinch_p50", "train", 128, 2, seed=0)
  batch = next(ds)
  seg = batch["decoder_segment_ids"][0]
  first = seg == 1
  targets = batch["decoder_target_tokens"][0][first]
  weights = batch["decoder_loss_weights"][0][first]
  assert batch["decoder_input_tokens"][0, 0] == v.bos_id
  assert targets[-2:].tolist() == [5, 1]  # <end_of_turn>, EOS: both carry loss
  assert weights[-2:].tolist() == [1, 1] and weights[0] == 0
  task, element = ds.last_examples[0][0]
  rec = seqio.get_mixture_or_task(task).source.records("train")[element]
  assert v.decode(targets[weights == 1].tolist()) == rec.response + "<end_of_turn>"
  assert v.decode(targets[weights == 0].tolist()) == chat.format_prompt("gemma", rec.instruction)


def test_templates():
  assert chat.format_prompt("toy", "hi") == "<user> hi <model>"
  assert chat.format_prompt("gemma", "hi") == (
      "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n")
  assert chat.format_prompt("chatml", "hi") == (
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
  assert chat.format_prompt("qwen2", "hi").startswith("<|im_start|>system\nYou are Qwen")
  assert chat.format_prompt("llama3", "hi") == (
      "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n")
  assert chat.format_prompt("toy", "{instruction} x") == "<user> {instruction} x <model>"
  assert chat.format_response("llama3", "ok") == "ok<|eot_id|>"
  assert chat.strip_response("chatml", "answer<|im_end|>junk") == "answer"
  assert chat.markers(["toy", "gemma"]) == ("<user>", "<model>", "<start_of_turn>",
                                            "<end_of_turn>")
  with pytest.raises(ValueError, match="unknown chat template 'x'; known: chatml, gemma"):
    chat.get_template("x")


def test_sentencepiece_training_is_deterministic_and_keeps_markers(tmp_path):
  texts = [r.instruction + " " + r.response
           for r in synthetic.parallel_set(100, ("en", "ru"))["en"]]
  a = vocab.train_sentencepiece(texts, str(tmp_path / "a"), 60,
                                user_defined_symbols=chat.markers(["toy"]))
  b = vocab.train_sentencepiece(texts, str(tmp_path / "b"), 60,
                                user_defined_symbols=chat.markers(["toy"]))
  va, vb = vocab.get_vocabulary(a), vocab.get_vocabulary(b)
  assert va.vocab_size == vb.vocab_size == 60
  assert all(va.tokenizer.id_to_piece(i) == vb.tokenizer.id_to_piece(i)
             for i in range(va.vocab_size))
  assert [va.encode(t) for t in texts[:20]] == [vb.encode(t) for t in texts[:20]]
  assert (va.pad_id, va.eos_id, va.unk_id, va.bos_id) == (0, 1, 2, -1)
  pieces = [va.tokenizer.id_to_piece(i) for i in va.encode("<user> enab <model>")]
  assert pieces[:2] == ["▁", "<user>"] and pieces[-2:] == ["▁", "<model>"]
  assert va.decode(va.encode("<user> enab <model>")) == "<user> enab <model>"
  assert chat.start_id(va) == 0
