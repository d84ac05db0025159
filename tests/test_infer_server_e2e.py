"""`pinchjax serve` as a real process on loopback, driven by the official `openai` client,
answering exactly what the in-process decoder answers for the same checkpoint; warm-up, and
shutdown on SIGTERM/SIGINT (over a slow stand-in decoder, `slow_server.py`)."""
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import threading
import time

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
       "--batch-wait-ms", "300", "--no-warmup"],
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
    assert proc.wait(timeout=60) == 0  # SIGTERM drains and exits 0
    log.close()


@pytest.fixture(scope="module")
def reference(checkpoint):
  mesh = parallel.make_mesh(devices=jax.devices()[:1])
  return load_generator(checkpoint, partitioner=parallel.Partitioner.create(mesh))


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


class Process:
  """A server process whose stderr is collected on a thread (a full pipe would stall it)."""

  def __init__(self, argv, env=None):
    env = {**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, **(env or {})}
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join([here, env.get("PYTHONPATH", "")])
    self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
    self.lines: list[str] = []
    self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr),
                                   daemon=True)
    self.reader.start()

  @property
  def log(self) -> str:
    return "".join(self.lines)

  def wait_log(self, pattern: str, timeout: float = 120) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      match = re.search(pattern, self.log)
      if match:
        return match
      if self.proc.poll() is not None:
        break
      time.sleep(0.02)
    raise AssertionError(f"no {pattern!r} in the log:\n{self.log[-3000:]}")

  def ready(self) -> str:
    """The URL of `serving NAME on URL`, printed once the model is loaded and warmed up."""
    line = self.proc.stdout.readline()
    match = re.search(r"serving \S+ on (http://127\.0\.0\.1:\d+)", line)
    assert match, f"{line!r}\n{self.log[-3000:]}"
    return match.group(1)

  def stop(self, sig=signal.SIGTERM, timeout=60) -> int:
    if self.proc.poll() is None:
      self.proc.send_signal(sig)
    code = self.proc.wait(timeout=timeout)
    self.reader.join(10)
    return code


def _slow_server(load_s, delay, grace):
  here = os.path.dirname(os.path.abspath(__file__))
  return Process([sys.executable, os.path.join(here, "slow_server.py"), str(load_s),
                  str(delay), str(grace)])


def test_health_answers_while_the_model_loads():
  server = _slow_server(load_s=3, delay=0, grace=30)
  try:
    base = server.wait_log(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
    r = httpx.get(base + "/health")
    assert (r.status_code, r.json()) == (503, {"status": "loading"})
    r = httpx.get(base + "/v1/models")
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_loading"
    assert server.ready() == base
    r = httpx.get(base + "/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert [m["id"] for m in httpx.get(base + "/v1/models").json()["data"]] == ["slow"]
  finally:
    assert server.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("grace", [30, 0.5])
def test_signal_during_a_stream_drains_and_exits_0(sig, grace):
  server = _slow_server(load_s=0, delay=0.3, grace=grace)
  try:
    base = server.ready()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0, timeout=60)
    stream = client.completions.create(model="slow", prompt="a b c d e f g h i j", stream=True)
    pieces = [next(stream).choices[0].text]
    server.proc.send_signal(sig)
    if grace > 1:
      time.sleep(0.3)  # the drain has begun: new requests are refused
      r = httpx.post(f"{base}/v1/completions", json={"model": "slow", "prompt": "x"})
      assert r.status_code == 503 and r.json()["error"]["code"] == "server_shutting_down"
      assert httpx.get(f"{base}/health").json() == {"status": "draining"}
      pieces += [c.choices[0].text for c in stream]
      assert "".join(pieces) == "A B C D E F"  # the whole answer (the context holds 6 words)
    else:
      # Cut at the end of the grace period: the client sees an error, not a short answer.
      with pytest.raises(openai.APIError, match="shut down before the answer was complete"):
        pieces += [c.choices[0].text for c in stream]
      assert 0 < len("".join(pieces).split()) < 6
    assert server.stop(timeout=30) == 0
  finally:
    server.stop(signal.SIGKILL)
  assert "terminate called" not in server.log and "Traceback" not in server.log
  assert "shutting down: 1 requests in flight" in server.log


def _generate_jit_compiles(log: str) -> int:
  return len(re.findall(r"Finished XLA compilation of jit\(_generate_jit\)", log))


def _requests_of_every_kind(client):
  """Completions and chat, greedy and sampled, streamed and not, with stop strings (up to 4,
  up to 16 tokens), logprobs of any k, echo (scoring only, max_tokens 0, lm-eval's way, up to
  a prompt of the whole context), best_of, and max_tokens 1..7, one request at a time."""
  ask = lambda **kw: client.completions.create(model="tiny", **kw)
  chat = lambda **kw: client.chat.completions.create(
      model="tiny", messages=[{"role": "user", "content": "hi"}], **kw)
  for temperature in (0, 1):
    assert ask(prompt="hi", temperature=temperature).usage.completion_tokens <= 31
    assert len(list(ask(prompt="a b", temperature=temperature, stream=True))) >= 1
    ask(prompt="hi", temperature=temperature, stop=["zz", "\n\n", "q" * 16, "Question:"])
    list(ask(prompt="hi", temperature=temperature, stop="zz", stream=True))
    for k in (0, 5, 20):
      got = ask(prompt="a", logprobs=k, temperature=temperature, max_tokens=2)
      # k alternatives and the chosen token (texts that coincide kept once)
      assert all(1 <= len(top) <= k + 1 for top in got.choices[0].logprobs.top_logprobs)
      got = chat(logprobs=True, top_logprobs=k, temperature=temperature, max_tokens=2)
      assert all(len(t.top_logprobs) == k for t in got.choices[0].logprobs.content)
      list(chat(logprobs=True, top_logprobs=k, temperature=temperature, stream=True,
                stop=["x y"]))
    scored = ask(prompt="a b c", echo=True, max_tokens=0, logprobs=1, temperature=temperature)
    assert scored.choices[0].text == "a b c" and scored.usage.completion_tokens == 0
    assert ask(prompt=list(range(1, 33)), echo=True, max_tokens=0, logprobs=3,
               temperature=temperature).usage.prompt_tokens == 32  # the whole context
    ask(prompt="a b", echo=True, max_tokens=3, logprobs=2, temperature=temperature)
    ask(prompt="a b", best_of=2, n=1, temperature=temperature)
    for max_tokens in range(1, 8):
      ask(prompt="x", max_tokens=max_tokens, temperature=temperature)
    list(ask(prompt="x", max_tokens=3, temperature=temperature, stream=True))


def test_warmup_compiles_every_shape_before_ready(checkpoint):
  """No request after `serving ...` compiles, whatever its stops, logprobs, echo or max_tokens:
  3 prompt buckets and one loop length (32: every max_tokens rounds up to it) in 4 variants
  (the chat prompt of "hi" has 22 tokens)."""
  env = {"PINCHJAX_API_KEY": "", "JAX_LOG_COMPILES": "1"}
  server = Process(
      [sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint", checkpoint, "--port", "0",
       "--model-name", "tiny", "--max-context", "32", "--max-batch", "1",
       "--default-max-tokens", "32"], env)
  try:
    base = server.ready()
    assert ("warm-up 12/12: 1 rows, prompt 17-32 tokens, 32 steps, streamed, prompt logprobs"
            in server.log)
    compiled = _generate_jit_compiles(server.log)
    assert compiled >= 12  # the log shows each compile
    _requests_of_every_kind(openai.OpenAI(base_url=f"{base}/v1", api_key="none",
                                          max_retries=0, timeout=60))
    assert _generate_jit_compiles(server.log) == compiled
    assert server.stop() == 0
  finally:
    server.stop(signal.SIGKILL)
  assert "Traceback" not in server.log


def test_signal_while_a_request_compiles_exits_at_once(checkpoint):
  """SIGINT while the decode thread is inside XLA (compiling: no warm-up) still ends the
  stream with an error event and exits 0 at once, without waiting for XLA or aborting in it."""
  env = {"PINCHJAX_API_KEY": "", "JAX_LOG_COMPILES": "1"}
  server = Process(
      [sys.executable, "-m", "pinchjax.cli", "serve", "--checkpoint", checkpoint, "--port", "0",
       "--model-name", "tiny", "--max-context", "8", "--no-warmup", "--grace-period-s", "0.5"],
      env)
  try:
    base = server.ready()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0, timeout=60)
    stream = client.completions.create(model="tiny", prompt="hi", stream=True)
    server.wait_log(r"Compiling jit\(_generate_jit\)")
    server.proc.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    with pytest.raises(openai.APIError, match="shut down before the answer was complete"):
      list(stream)
    assert server.stop(timeout=30) == 0
    assert time.monotonic() - signalled < 8  # a normal exit would wait for the compile
  finally:
    server.stop(signal.SIGKILL)
  assert _generate_jit_compiles(server.log) == 0  # it was still compiling
  assert "grace period over: ending 1 unfinished requests" in server.log
  assert "terminate called" not in server.log and "Traceback" not in server.log
