"""The generations writer: records, batching by length, resume after a kill, one config per
file; the text-level generator over a real (tiny) tokenizer."""
import json

import pytest
import tokenizers
from flax import nnx
from tokenizers import decoders, models, pre_tokenizers, trainers

from pinchjax.data import vocab as vocab_lib
from pinchjax.infer import run
from pinchjax.infer.generator import Request
from pinchjax.infer.jax_generator import JaxGenerator
from pinchjax.infer.writer import DecodeConfig, existing_keys, write_generations
from pinchjax.model.config import ModelConfig
from pinchjax.model.transformer import Transformer

SPECIALS = ["<pad>", "<eos>", "<bos>", "<user>", "<model>", "<|start_header_id|>",
            "<|end_header_id|>", "<|eot_id|>"]
CORPUS = ["the quick brown fox jumps over the lazy dog", "hyvää huomenta", "buongiorno",
          "привет мир", "שלום", "नमस्ते", "你好世界", "habari ya asubuhi", "مرحبا"]


def write_tokenizer(directory) -> None:
  """A byte-level BPE tokenizer.json (+ tokenizer_config.json) as Hugging Face ships them."""
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(CORPUS * 5, trainer)
  directory.mkdir(parents=True, exist_ok=True)
  tok.save(str(directory / "tokenizer.json"))
  (directory / "tokenizer_config.json").write_text(json.dumps(
      {"eos_token": "<eos>", "bos_token": "<bos>", "pad_token": "<pad>"}))


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tok")
  write_tokenizer(directory)
  vocab = vocab_lib.get_vocabulary(str(directory))
  cfg = ModelConfig(family="toy", vocab_size=320, d_model=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8, mlp_dim=64, max_len=256)
  return JaxGenerator(Transformer(cfg, rngs=nnx.Rngs(3)), vocab, "toy")


RECORDS = [{"id": f"e{i}", "lang": lang, "instruction": text}
           for i, (lang, text) in enumerate(zip(
               ["en", "fi", "it", "ru", "he", "hi", "zh", "sw", "ar", "en"],
               CORPUS + ["the dog " * 6]))]
CONFIG = DecodeConfig(max_new_tokens=6)


def _lines(path):
  return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_generator_encodes_like_training_and_stops(generator):
  prompt = generator.instruction_prompt("buongiorno")
  assert prompt == "<user> buongiorno <model>"
  ids = generator.encode(prompt)
  assert ids[0] == generator.vocab.bos_id
  assert generator.vocab.encode("<user>") == [SPECIALS.index("<user>")]
  assert generator.count_tokens(prompt) == len(ids)
  assert generator.stop_token_ids == (SPECIALS.index("<eos>"),)
  out = generator.generate([Request(prompt, 5)])[0]
  assert out.prompt_tokens == len(ids) and out.completion_tokens <= 5
  assert out.finish_reason in ("stop", "length")


def test_writes_every_record_as_each_would_be_alone(generator, tmp_path):
  out = tmp_path / "gen.jsonl"
  stats = write_generations(generator, RECORDS, str(out), "run1", CONFIG, batch_size=4)
  assert (stats.written, stats.skipped) == (10, 0)
  rows = _lines(out)
  assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in RECORDS)
  # Longest prompts first.
  lengths = [generator.count_tokens(generator.instruction_prompt(r["instruction"]))
             for r in rows]
  assert lengths == sorted(lengths, reverse=True)
  by_id = {r["id"]: r for r in rows}
  for rec in RECORDS[:3]:
    row = by_id[rec["id"]]
    assert {k: row[k] for k in ("lang", "instruction", "run")} == {
        "lang": rec["lang"], "instruction": rec["instruction"], "run": "run1"}
    assert row["decode_config"] == CONFIG.to_json()
    alone = generator.generate([Request(generator.instruction_prompt(rec["instruction"]), 6,
                                        CONFIG.sampling(rec["id"]))])[0]
    assert row["response"] == alone.text
    assert row["num_tokens"] == alone.completion_tokens
  assert stats.new_tokens == sum(r["num_tokens"] for r in rows)


def test_resume_after_a_kill_gives_the_uninterrupted_file(generator, tmp_path):
  sampled = DecodeConfig(max_new_tokens=6, sampler="top_p", temperature=1.2, seed=7)
  full = tmp_path / "full.jsonl"
  write_generations(generator, RECORDS, str(full), "r", sampled, batch_size=4)
  # A run killed after one batch, in the middle of writing the next line.
  cut = tmp_path / "cut.jsonl"
  lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
  cut.write_text("".join(lines[:4]) + lines[4][:25], encoding="utf-8")
  assert len(existing_keys(str(cut), "r", sampled)) == 4
  assert cut.read_text(encoding="utf-8") == "".join(lines[:4])  # the torn line is gone
  stats = write_generations(generator, RECORDS, str(cut), "r", sampled, batch_size=3)
  assert (stats.written, stats.skipped) == (6, 4)
  key = lambda r: (r["lang"], r["id"])
  assert sorted(_lines(cut), key=key) == sorted(_lines(full), key=key)
  # A finished file: nothing to do.
  again = write_generations(generator, RECORDS, str(cut), "r", sampled)
  assert (again.written, again.skipped) == (0, 10)


def test_one_file_is_one_run_and_config(generator, tmp_path):
  out = tmp_path / "gen.jsonl"
  write_generations(generator, RECORDS[:2], str(out), "run1", CONFIG)
  with pytest.raises(ValueError, match="gen.jsonl:1: written by run 'run1'"):
    write_generations(generator, RECORDS, str(out), "run1", DecodeConfig(max_new_tokens=7))
  with pytest.raises(ValueError, match="Use another output file"):
    write_generations(generator, RECORDS, str(out), "run2", CONFIG)
  out.write_text("{broken\n" + out.read_text(encoding="utf-8"), encoding="utf-8")
  with pytest.raises(ValueError, match="gen.jsonl:1: not a generations line"):
    write_generations(generator, RECORDS, str(out), "run1", CONFIG)


def test_streamed_pieces_join_to_the_answer(generator):
  prompt = generator.instruction_prompt("hyvää huomenta")
  plain = generator.generate([Request(prompt, 12)])[0]
  assert len(plain.text) > 6
  stop = plain.text[4:6]
  pieces, cut_pieces = [], []
  out = generator.generate([Request(prompt, 12, on_text=pieces.append),
                            Request(prompt, 12, stop=(stop,), on_text=cut_pieces.append)])
  assert out[0] == plain and "".join(pieces) == plain.text and len(pieces) > 1
  assert out[1].text == plain.text[:plain.text.find(stop)] == "".join(cut_pieces)
  assert out[1].finish_reason == "stop"


def test_infer_on_a_finished_file_loads_nothing(generator, tmp_path):
  src, out = tmp_path / "eval.jsonl", tmp_path / "gen.jsonl"
  src.write_text("".join(json.dumps({**r, "response": "", "source": "t"}) + "\n"
                         for r in RECORDS[:3]), encoding="utf-8")
  write_generations(generator, RECORDS[:3], str(out), "p10", CONFIG)
  stats = run.infer("/nonexistent/runs/p10/checkpoints", str(out), input_path=str(src),
                    decode_config=CONFIG)  # the run name comes from the path: p10
  assert (stats.written, stats.skipped) == (0, 3)
  assert run.run_name("runs/p10/checkpoints") == "p10" == run.run_name("models/p10/")
