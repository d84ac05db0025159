"""The OpenAI API as evaluation clients use it, against `pinchjax serve` as a real process:
the official `openai` client for every parameter (logprobs equal transformers' log_softmax,
n / best_of / seeds, stream_options, refused parameters), and lm-evaluation-harness running a
log-likelihood multiple-choice task and a generate_until task from local files."""
import glob
import json
import math
import os
import subprocess
import sys
import textwrap

import openai
import pytest
import torch
import transformers

from pinchjax.data import chat
from served_model import serve, write_checkpoint

CONTEXT = 96


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  directory = tmp_path_factory.mktemp("ckpt")
  model = write_checkpoint(directory)
  return directory, model, transformers.AutoTokenizer.from_pretrained(directory)


@pytest.fixture(scope="module")
def base(checkpoint, tmp_path_factory):
  log = tmp_path_factory.mktemp("log") / "stderr.txt"
  # Warm-up has its own test (test_infer_server_e2e); here it would only cost minutes.
  with serve(checkpoint[0], log, "--max-context", str(CONTEXT), "--no-warmup") as url:
    yield url


@pytest.fixture(scope="module")
def client(base):
  return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=300)


def torch_logprobs(model, ids):
  """log_softmax of transformers' logits: row p scores the token after ids[p]."""
  with torch.inference_mode():
    return torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)


def torch_greedy(model, ids, steps):
  ids = list(ids)
  for _ in range(steps):
    ids.append(int(torch_logprobs(model, ids)[-1].argmax()))
  return ids


def test_completion_echo_logprobs_equal_transformers(checkpoint, client):
  _, model, tok = checkpoint
  prompts = [tok.encode("the cat ate", add_special_tokens=False),
             tok.encode("привет мир and the quick brown fox", add_special_tokens=False)]
  # Pure scoring (what lm-eval sends for log-likelihoods, up to max_tokens), then 3 new tokens.
  scored = client.completions.create(model="tiny", prompt=prompts, max_tokens=0, echo=True,
                                     logprobs=2, temperature=0)
  made = client.completions.create(model="tiny", prompt=prompts, max_tokens=3, echo=True,
                                   logprobs=2, temperature=0)
  for ids, score, gen in zip(prompts, scored.choices, made.choices):
    full = torch_greedy(model, ids, 3)
    want = torch_logprobs(model, full)
    lp = score.logprobs
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert len(lp.tokens) == len(ids)
    for p in range(1, len(ids)):
      assert lp.token_logprobs[p] == pytest.approx(float(want[p - 1, ids[p]]), abs=1e-4)
      # Keyed by text, alternatives that read alike (bytes of one character) keep the best.
      assert max(lp.top_logprobs[p].values()) == pytest.approx(float(want[p - 1].max()),
                                                               abs=1e-4)
    assert score.text == tok.decode(ids) and "".join(lp.tokens) == score.text
    # The new tokens: transformers' greedy tokens, their logprobs, texts in context.
    glp = gen.logprobs
    assert glp.token_logprobs[1:len(ids)] == pytest.approx(lp.token_logprobs[1:], abs=1e-5)
    for p in range(len(ids), len(full)):
      assert glp.token_logprobs[p] == pytest.approx(float(want[p - 1, full[p]]), abs=1e-4)
      assert glp.token_logprobs[p] == pytest.approx(max(glp.top_logprobs[p].values()), abs=1e-6)
    assert gen.text == tok.decode(full)
    assert [gen.text[o:o + len(t)] for o, t in zip(glp.text_offset, glp.tokens)] == glp.tokens
  assert scored.usage.completion_tokens == 0


def test_chat_logprobs_equal_transformers(checkpoint, client):
  _, model, tok = checkpoint
  message = "the quick brown fox"
  got = client.chat.completions.create(
      model="tiny", messages=[{"role": "user", "content": message}], max_tokens=5,
      temperature=0, logprobs=True, top_logprobs=3)
  content = got.choices[0].logprobs.content
  ids = [tok.bos_token_id] + tok.encode(chat.format_prompt("llama3", message),
                                        add_special_tokens=False)
  full = torch_greedy(model, ids, len(content))
  want = torch_logprobs(model, full)
  for i, entry in enumerate(content):
    p = len(ids) + i
    assert entry.logprob == pytest.approx(float(want[p - 1, full[p]]), abs=1e-4)
    assert [a.logprob for a in entry.top_logprobs] == pytest.approx(
        torch.topk(want[p - 1], 3).values.tolist(), abs=1e-4)
    assert entry.bytes == list(entry.token.encode())
  assert "".join(e.token for e in content).startswith(got.choices[0].message.content)


def test_n_best_of_and_per_prompt_seeds(client):
  ask = lambda **kw: client.completions.create(model="tiny", max_tokens=6, temperature=1.0,
                                               **kw)
  three = ask(prompt="the quick", n=3, seed=11, logprobs=0)
  texts = [c.text for c in three.choices]
  assert [c.index for c in three.choices] == [0, 1, 2]
  assert len(set(texts)) == 3  # n samples are distinct samples
  assert [c.text for c in ask(prompt="the quick", n=3, seed=11).choices] == texts
  # A list of prompts: prompt i samples with seed + i, like row i of one prompt's n.
  listed = ask(prompt=["the quick", "the quick"], seed=11)
  assert [c.text for c in listed.choices] == texts[:2]
  unseeded = ask(prompt=["the quick"] * 2)
  assert unseeded.choices[0].text != unseeded.choices[1].text
  # best_of=3: the three rows above, answered by the highest cumulative logprob.
  best = ask(prompt="the quick", best_of=3, seed=11)
  sums = [sum(c.logprobs.token_logprobs) for c in three.choices]
  assert best.choices[0].text == texts[sums.index(max(sums))]
  assert best.usage.completion_tokens == three.usage.completion_tokens  # all rows counted
  two = ask(prompt=["the quick", "a"], n=2, best_of=3, seed=11)
  assert [c.index for c in two.choices] == [0, 1, 2, 3]
  assert {two.choices[0].text, two.choices[1].text} < set(texts)


def test_streams_choices_and_usage(client):
  kwargs = dict(model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=6,
                temperature=1.0, seed=3, n=2)
  whole = client.chat.completions.create(**kwargs)
  chunks = list(client.chat.completions.create(**kwargs, stream=True,
                                               stream_options={"include_usage": True}))
  texts = ["", ""]
  for c in chunks[:-1]:
    assert c.usage is None
    for choice in c.choices:
      texts[choice.index] += choice.delta.content or ""
  assert texts == [c.message.content for c in whole.choices]
  assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
  # Logprobs stream with the text they belong to: the same tokens and numbers as unstreamed.
  kwargs = dict(kwargs, n=1, temperature=0, logprobs=True, top_logprobs=2)
  whole = client.chat.completions.create(**kwargs).choices[0]
  chunks = list(client.chat.completions.create(**kwargs, stream=True))
  streamed = [t for c in chunks if c.choices and c.choices[0].logprobs
              for t in c.choices[0].logprobs.content]
  assert streamed == whole.logprobs.content and len(streamed) >= 1
  # Completions: echo streams the prompt first; no usage chunk unless asked.
  chunks = list(client.completions.create(model="tiny", prompt="the cat", max_tokens=4,
                                          temperature=0, echo=True, stream=True))
  assert chunks[0].choices[0].text == "the cat" and chunks[-1].usage is None
  plain = client.completions.create(model="tiny", prompt="the cat", max_tokens=4,
                                    temperature=0)
  assert "".join(c.choices[0].text for c in chunks) == "the cat" + plain.choices[0].text


REFUSED = [
    ("chat", dict(response_format={"type": "json_object"}), "response_format"),
    ("chat", dict(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
    ("chat", dict(tool_choice="auto"), "tool_choice"),
    ("chat", dict(presence_penalty=0.5), "presence_penalty"),
    ("chat", dict(frequency_penalty=-1), "frequency_penalty"),
    ("chat", dict(logit_bias={"5": 10}), "logit_bias"),
    ("chat", dict(top_logprobs=2), "top_logprobs"),  # without logprobs=True
    ("chat", dict(stream_options={"include_usage": True}), "stream_options"),  # no stream
    ("chat", dict(extra_body={"echo": True}), "echo"),
    ("chat", dict(extra_body={"min_tokens": 2}), "min_tokens"),
    ("text", dict(suffix="end"), "suffix"),
    ("text", dict(best_of=1, n=2), "best_of"),
    ("text", dict(best_of=3, stream=True), "best_of"),
    ("text", dict(echo=True, logprobs=1, stream=True), "echo"),
    ("text", dict(logprobs=21), "logprobs"),
    ("text", dict(max_tokens=0), "max_tokens"),  # scoring needs echo
    ("text", dict(extra_body={"guided_json": {}}), "guided_json"),
]


@pytest.mark.parametrize("kind,kwargs,param", REFUSED)
def test_unsupported_parameters_are_refused_by_name(client, kind, kwargs, param):
  with pytest.raises(openai.BadRequestError) as err:
    if kind == "chat":
      client.chat.completions.create(model="tiny", max_tokens=2, **{
          "messages": [{"role": "user", "content": "hi"}], **kwargs})
    else:
      client.completions.create(model="tiny", prompt="hi", **{"max_tokens": 2, **kwargs})
  assert err.value.body["param"] == param


def test_neutral_and_identifying_parameters_are_accepted(client):
  got = client.chat.completions.create(
      model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2, temperature=0,
      presence_penalty=0, frequency_penalty=0.0, response_format={"type": "text"}, user="u1",
      logit_bias={}, metadata={"run": "x"}, store=False)
  plain = client.chat.completions.create(
      model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2, temperature=0)
  assert got.choices[0].message.content == plain.choices[0].message.content


MC_DOCS = [{"question": "the cat ate", "choices": ["brown rice", "the sky", "blue"],
            "answer": 0},
           {"question": "the quick brown", "choices": ["fox", "dog jumps"], "answer": 0},
           {"question": "two plus two is", "choices": ["four", "green"], "answer": 1}]
GEN_DOCS = [{"question": "the quick brown", "answer": "fox"},
            {"question": "Paris is in", "answer": "France"}]


def _task(directory, name, docs, body):
  data = directory / f"{name}.jsonl"
  data.write_text("".join(json.dumps(d) + "\n" for d in docs))
  (directory / f"{name}.yaml").write_text(textwrap.dedent(f"""\
      task: {name}
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: {data}
      test_split: test
      doc_to_text: "{{{{question}}}}"
      doc_to_target: "{{{{answer}}}}"
      """) + textwrap.dedent(body))


def test_lm_eval_loglikelihood_and_generate_until(checkpoint, base, tmp_path):
  directory, model, tok = checkpoint
  _task(tmp_path, "tiny_mc", MC_DOCS, """\
      output_type: multiple_choice
      doc_to_choice: "{{choices}}"
      metric_list:
        - metric: acc
      """)
  _task(tmp_path, "tiny_gen", GEN_DOCS, """\
      output_type: generate_until
      generation_kwargs:
        until: ["\\n"]
        max_gen_toks: 6
        do_sample: false
        temperature: 0
      metric_list:
        - metric: exact_match
      """)
  env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
             HF_DATASETS_CACHE=str(tmp_path / "datasets"))
  out = tmp_path / "out"
  run = subprocess.run(
      [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
       f"model=tiny,base_url={base}/v1/completions,tokenizer_backend=huggingface,"
       f"tokenizer={directory},max_length={CONTEXT}",
       "--tasks", "tiny_mc,tiny_gen", "--include_path", str(tmp_path), "--output_path",
       str(out), "--log_samples"], capture_output=True, text=True, env=env, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(open(glob.glob(f"{out}/**/results_*.json", recursive=True)[0]).read())
  acc = results["results"]["tiny_mc"]["acc,none"]
  match = results["results"]["tiny_gen"]["exact_match,none"]
  print(f"lm-eval: tiny_mc acc={acc} tiny_gen exact_match={match}")
  assert acc in (0, 1 / 3, 2 / 3, 1) and match in (0, 0.5, 1)
  samples = [json.loads(line) for path in glob.glob(f"{out}/**/samples_tiny_mc_*.jsonl",
                                                    recursive=True)
             for line in open(path)]
  assert len(samples) == len(MC_DOCS)
  checked = 0
  for sample in samples:
    # {"gen_args_N": {"arg_0": context, "arg_1": continuation}}, resps [[[logprob, greedy]]].
    args = [sample["arguments"][f"gen_args_{i}"] for i in range(len(sample["arguments"]))]
    for arg, resp in zip(args, sample["resps"]):
      context, continuation = arg["arg_0"], arg["arg_1"]
      whole = tok.encode(context + continuation, add_special_tokens=False)
      ctx = tok.encode(context, add_special_tokens=False)
      want = torch_logprobs(model, whole)
      total = sum(float(want[p - 1, whole[p]]) for p in range(len(ctx), len(whole)))
      assert math.isclose(float(resp[0][0]), total, abs_tol=1e-3), (context, continuation)
      checked += 1
  assert checked == sum(len(d["choices"]) for d in MC_DOCS)
  gen = [json.loads(line) for path in glob.glob(f"{out}/**/samples_tiny_gen_*.jsonl",
                                                recursive=True) for line in open(path)]
  assert len(gen) == len(GEN_DOCS) and all(isinstance(g["resps"][0][0], str) for g in gen)
