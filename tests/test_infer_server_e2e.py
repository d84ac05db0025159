"""`pinchjax serve` as a real process on loopback, driven by the official `openai` client,
answering exactly what the in-process decoder answers for the same checkpoint."""
import concurrent.futures
import os
import re
import subprocess
import sys

import httpx
import jax
import openai
import pytest
import torch
import transformers

from pinchjax import parallel
from pinchjax.infer.generator import Request
from pinchjax.infer.loading import load_generator
from test_infer_writer import write_tokenizer

KEY = "sk-e2e-test"
NEW = 8


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  """A tiny Llama written by transformers, with a byte-level BPE tokenizer."""
  directory = tmp_path_factory.mktemp("ckpt")
  torch.manual_seed(0)
  config = transformers.LlamaConfig(
      vocab_size=320, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
      initializer_range=0.3, tie_word_embeddings=False)
  transformers.LlamaForCausalLM(config).save_pretrained(directory, safe_serialization=True)
  write_tokenizer(directory)
  return str(directory)


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):
  log = open(tmp_path_factory.mktemp("log") / "stderr.txt", "w+")  # a pipe could fill and stall
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device, as a user has
  env["PINCHJAX_TEST_KEY"] = KEY
  proc = subprocess.Popen(
      [sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint", checkpoint, "--port", "0",
       "--model-name", "tiny", "--api-key-env", "PINCHJAX_TEST_KEY", "--max-context", "96",
       "--batch-wait-ms", "300"],
      stdout=subprocess.PIPE, stderr=log, text=True, env=env)
  try:
    line = proc.stdout.readline()  # blocks until the server is up (or has died)
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
    if not match:
      log.seek(0)
      pytest.fail(f"server did not start: {line!r}\n{log.read()[-3000:]}")
    yield proc, match.group(1)
  finally:
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def reference(checkpoint):
  mesh = parallel.make_mesh(devices=jax.devices()[:1])
  return load_generator(checkpoint, mesh=mesh)


def _client(base, key=KEY):
  return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=300)


def test_chat_completion_and_streaming(server, reference):
  _, base = server
  client = _client(base)
  assert [m.id for m in client.models.list().data] == ["tiny"]
  messages = [{"role": "user", "content": "hyvää huomenta"}]
  want = reference.generate([Request(reference.chat_prompt(messages), NEW)])[0]
  chat = client.chat.completions.create(model="tiny", messages=messages, max_tokens=NEW,
                                        temperature=0)
  assert chat.choices[0].message.content == want.text
  assert chat.choices[0].finish_reason == want.finish_reason
  assert chat.usage.prompt_tokens == want.prompt_tokens
  assert chat.usage.completion_tokens == want.completion_tokens

  prompt = reference.instruction_prompt("buongiorno")
  text = client.completions.create(model="tiny", prompt=prompt, max_tokens=NEW, temperature=0)
  assert text.choices[0].text == reference.generate([Request(prompt, NEW)])[0].text

  stream = client.chat.completions.create(model="tiny", messages=messages, max_tokens=NEW,
                                          temperature=0, stream=True)
  chunks = list(stream)
  pieces = [c.choices[0].delta.content or "" for c in chunks]
  assert "".join(pieces) == want.text
  assert sum(bool(p) for p in pieces) > 1  # token by token, not one blob
  assert chunks[-1].choices[0].finish_reason == want.finish_reason


def test_32_concurrent_requests(server, reference):
  _, base = server
  client = _client(base)
  prompts = [reference.instruction_prompt(f"the {w} dog {i}")
             for i, w in enumerate(["quick", "lazy", "brown", "fox"] * 8)]
  want = [c.text for c in reference.generate([Request(p, NEW) for p in prompts])]
  ask = lambda p: client.completions.create(model="tiny", prompt=p, max_tokens=NEW,
                                            temperature=0).choices[0].text
  with concurrent.futures.ThreadPoolExecutor(32) as pool:
    got = list(pool.map(ask, prompts))
  assert got == want
  assert len(set(got)) > 1


def test_bad_requests_get_4xx_and_the_server_stays_up(server):
  proc, base = server
  client = _client(base)
  bad = [dict(model="nope", prompt="x"), dict(model="tiny", prompt="x", temperature=5),
         dict(model="tiny", prompt="x", max_tokens=0), dict(model="tiny", prompt="x " * 200),
         dict(model="tiny", prompt="x", top_p=1.5), dict(model="tiny", prompt="x", suffix="y")]
  for kwargs in bad:
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as err:
      client.completions.create(**kwargs)
    assert 400 <= err.value.status_code < 500
    assert err.value.body["message"]  # OpenAI's error shape
  with pytest.raises(openai.BadRequestError, match="last chat message"):
    client.chat.completions.create(model="tiny", messages=[{"role": "assistant",
                                                            "content": "hi"}])
  raw = httpx.post(f"{base}/v1/chat/completions", content=b"{oops",
                   headers={"Authorization": f"Bearer {KEY}"})
  assert raw.status_code == 400 and "error" in raw.json()
  with pytest.raises(openai.AuthenticationError):
    _client(base, key="sk-wrong").models.list()
  assert httpx.get(f"{base}/v1/models").status_code == 401
  ok = client.completions.create(model="tiny", prompt="hello", max_tokens=2, temperature=0)
  assert ok.choices[0].finish_reason in ("stop", "length")
  assert proc.poll() is None
