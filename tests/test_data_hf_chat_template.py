"""A tokenizer's own chat template: token ids equal transformers' apply_chat_template for the
published Gemma 3, Qwen 2.5 and Llama 3.1 / 3.2 templates, and tuning examples split into
prompt and (response + end-of-turn) exactly where the rendered prompt ends."""
import datetime
import json

import gin
import numpy as np
import pytest
from transformers import AutoTokenizer

from chat_template_fixtures import FAMILIES, write_tokenizer
from pinchjax.data import chat, hf_chat_template, pipeline, registry, vocab as vocab_lib

SYSTEM = {"role": "system", "content": "You are terse. Answer briefly."}
USER = {"role": "user", "content": "Hello there, how are you today?"}
REPLY = {"role": "assistant", "content": "Hyvää huomenta! The quick brown fox."}
CONVERSATIONS = [[USER], [SYSTEM, USER], [USER, REPLY], [SYSTEM, USER, REPLY],
                 [USER, REPLY, {"role": "user", "content": "Habari ya asubuhi?"}]]
MARKERS = {"gemma3": "<end_of_turn>", "qwen2.5": "<|im_end|>", "llama3.1": "<|eot_id|>",
           "llama3.2": "<|eot_id|>"}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory):
  # Gemma's template goes to tokenizer_config.json, the others to chat_template.jinja.
  directory = write_tokenizer(tmp_path_factory.mktemp(request.param), request.param,
                              jinja_file=request.param != "gemma3")
  vocab = vocab_lib.get_vocabulary(directory)
  return request.param, directory, vocab, chat.get_template("tokenizer", vocab)


def test_ids_equal_transformers_apply_chat_template(family):
  name, directory, vocab, template = family
  hf = AutoTokenizer.from_pretrained(directory)
  for conversation in CONVERSATIONS:
    for generation_prompt in (True, False):
      expected = hf.apply_chat_template(conversation, tokenize=True,
                                        add_generation_prompt=generation_prompt)
      expected = list(getattr(expected, "input_ids", expected))
      text = template.render(conversation, add_generation_prompt=generation_prompt)
      assert template.encode(vocab, text) == expected, (name, conversation, generation_prompt)
  # Each family's frame, as its template renders it (not an echo of the renderer).
  prompt = template.chat_prompt([SYSTEM, USER])
  assert SYSTEM["content"] in prompt and prompt.count(USER["content"]) == 1
  first = vocab.decode(template.encode(vocab, prompt)[:1])
  assert first == {"gemma3": "<bos>", "qwen2.5": "<|im_start|>"}.get(name, "<|begin_of_text|>")
  assert template.stop_strings == (MARKERS[name],)
  assert chat.stop_token_ids(template, vocab)[-1] == vocab.encode(MARKERS[name])[0]


def test_llama_system_block_and_date(family):
  name, _, _, template = family
  if not name.startswith("llama"):
    pytest.skip("only Llama templates write a dated system block")
  prompt = template.instruction_prompt("hi")
  today = datetime.datetime.now().strftime("%d %b %Y")
  date = "26 Jul 2024" if name == "llama3.1" else today  # 3.2 asks strftime_now
  assert ("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023"
          f"\nToday Date: {date}\n\n<|eot_id|>") in prompt
  with gin.unlock_config():
    gin.bind_parameter("template_date.date", "2025-03-09")
  try:  # a pinned date (for training runs resumed on another day)
    pinned = template.instruction_prompt("hi")
  finally:
    gin.clear_config()
  want = "26 Jul 2024" if name == "llama3.1" else "09 Mar 2025"
  assert f"Today Date: {want}\n" in pinned


def test_example_split_covers_response_and_marker(family):
  name, _, vocab, template = family
  for system in ([], [SYSTEM]):
    user = system + [USER]
    rendered_prompt = vocab.encode(template.render(user, add_generation_prompt=True))
    rendered_full = vocab.encode(template.render(user + [REPLY]))
    assert rendered_full[:len(rendered_prompt)] == rendered_prompt  # the prefix property
  prompt, targets = template.example_ids(vocab, USER["content"], REPLY["content"])
  full = vocab.encode(template.render([USER, REPLY]))
  assert prompt + targets == full[:len(prompt) + len(targets)]
  # Loss on the reply and the end-of-turn marker, and on nothing after the marker.
  assert targets == vocab.encode(REPLY["content"] + MARKERS[name])
  assert targets[-1] == vocab.encode(MARKERS[name])[0]
  assert vocab.decode(full[len(prompt) + len(targets):]).strip() == ""


def test_training_batches_are_the_rendered_ids(family, tmp_path):
  name, directory, vocab, template = family
  data = tmp_path / "data"
  (data / "hfct" / "train").mkdir(parents=True)
  pairs = [("Hello there?", "Fine, thanks."), ("Habari?", "Nzuri sana.")]
  (data / "hfct" / "train" / "en.jsonl").write_text("".join(
      json.dumps({"id": f"x{i}", "lang": "en", "instruction": q, "response": a,
                  "source": "test"}) + "\n" for i, (q, a) in enumerate(pairs)),
      encoding="utf-8")
  registry.register_dataset("hfct", str(data), vocab, "tokenizer", languages=["en"],
                            seen=["en"], percents=(), n_orderings=0, replace=True)
  batches = pipeline.get_eval_dataset("hfct_en", "train", 128, 1, pack=False)
  for batch, (instruction, response) in zip(batches, pairs):
    n = int((batch["decoder_segment_ids"][0] > 0).sum())
    full = template.encode(vocab, template.render(
        [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]))
    model_reads = batch["decoder_input_tokens"][0, :n].tolist()
    targets = batch["decoder_target_tokens"][0, :n].tolist()
    # The model reads exactly the rendered ids (no id 0 or second BOS in front).
    assert model_reads == full[:n]
    assert targets == full[1:n + 1]
    weighted = np.asarray(targets)[batch["decoder_loss_weights"][0, :n] == 1].tolist()
    assert weighted == vocab.encode(response + MARKERS[name])
  assert pipeline.task_template(registry.get_provider("hfct_en")) == template


def test_template_sources_and_errors(tmp_path):
  directory = write_tokenizer(tmp_path / "q", "qwen2.5")
  assert hf_chat_template.read_template(str(directory)) == FAMILIES["qwen2.5"][0]
  (tmp_path / "empty").mkdir()
  assert hf_chat_template.read_template(str(tmp_path / "empty")) is None
  bad = hf_chat_template.HfTemplate("{{ raise_exception('no system role') }}")
  with pytest.raises(Exception, match="no system role"):
    bad.render([USER])
  sandboxed = hf_chat_template.HfTemplate("{{ messages.__class__.__mro__ }}")
  with pytest.raises(Exception, match="unsafe|not safely|access"):
    sandboxed.render([USER])
  with pytest.raises(ValueError, match="not a Hugging Face tokenizer with a chat_template"):
    chat.get_template("tokenizer", None)


def test_hugging_face_directory_serves_with_its_own_template(tmp_path):
  """load_generator on an HF directory (what infer, serve and the local judge load): prompts
  render with the tokenizer's template, and their ids are transformers' ids."""
  import jax  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  from pinchjax import parallel  # pylint: disable=import-outside-toplevel
  from pinchjax.infer import loading  # pylint: disable=import-outside-toplevel
  directory = write_tokenizer(tmp_path / "hf", "qwen2.5")
  config = transformers.Qwen2Config(vocab_size=416, hidden_size=16, intermediate_size=32,
                                    num_hidden_layers=1, num_attention_heads=2,
                                    num_key_value_heads=1, max_position_embeddings=128)
  torch.manual_seed(0)
  transformers.Qwen2ForCausalLM(config).save_pretrained(directory)
  one_device = parallel.Partitioner.create(parallel.make_mesh(devices=jax.devices()[:1]))
  generator = loading.load_generator(directory, partitioner=one_device)
  assert isinstance(generator.template, hf_chat_template.HfTemplate)
  hf = AutoTokenizer.from_pretrained(directory)
  for messages in ([USER], [SYSTEM, USER]):
    expected = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    expected = list(getattr(expected, "input_ids", expected))
    assert generator.encode(generator.chat_prompt(messages)) == expected
  assert expected[0] != 0 and vocab_lib.get_vocabulary(directory).decode(expected[:1]) == \
      "<|im_start|>"
  assert generator.stop_token_ids == (vocab_lib.get_vocabulary(directory).encode("<|im_end|>")[0],)
  # An explicit family template still wins.
  assert loading.load_generator(directory, template="chatml",
                                partitioner=one_device).template.name == "chatml"
