"""An async client for any OpenAI-compatible chat completions server.

vLLM, SGLang, llama.cpp's server, `pinchjax serve` and api.openai.com all speak
`POST {base_url}/chat/completions`. This client adds what long batch jobs (translation,
judging) need on top of a plain POST:

- a concurrency limit (an asyncio semaphore shared by all requests of one client);
- retries with exponential backoff and seeded jitter on connection errors, timeouts, 429 and
  5xx (honouring `Retry-After`), and no retry on other 4xx, which raise `RequestRejected`
  carrying the server's own message;
- a wall-clock deadline per attempt (`timeout_s`), so a server that hangs costs one timeout,
  not the whole job;
- greedy decoding by default (temperature 0, a fixed seed), so reruns ask the same question;
- counts of requests, attempts, retries and failures (`ClientStats`).

Async use (one event loop):

  async with ChatClient(ClientConfig(base_url=..., model=...)) as client:
    done = await client.chat([{"role": "user", "content": "Hi"}])
    print(done.text)

Sync use, many requests, one result or exception per request in input order (one failure
never loses the others; `on_result` sees each as it finishes, e.g. to cache it at once):

  results = run_chats(config, [messages_a, messages_b])
  for r in results:
    print(r.text if isinstance(r, Completion) else f"failed: {r}")
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import random
from typing import Any, Callable, Mapping, Sequence

import gin
import httpx

Messages = Sequence[Mapping[str, str]]


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ClientConfig:
  """Where the server is and how to talk to it.

  Attributes:
    base_url: the API root including `/v1`, e.g. `http://127.0.0.1:8000/v1`.
    model: the `model` field sent with every request.
    api_key_env: name of the environment variable holding the API key (sent as a bearer
      token); None for local servers that need no key. A named but unset variable is an error.
    max_concurrency: requests in flight at once.
    max_retries: retries after the first attempt (so at most max_retries + 1 attempts).
    timeout_s: wall-clock limit of one attempt, connection to last byte.
    backoff_base_s / backoff_max_s: retry k waits min(max, base * 2**k), scaled by a jitter
      factor in [0.5, 1); a 429/503 `Retry-After` header raises the wait (still capped).
    seed: sent to the server (sampling seed) and seeds the jitter.
    temperature, max_tokens: sampling parameters sent with every request (max_tokens None:
      the server's default).
    extra_body: more request fields, e.g. {"top_k": 1} for vLLM.
  """
  # Required; gin.REQUIRED makes gin name every one left unbound, in the scope asked for.
  base_url: str = gin.REQUIRED
  model: str = gin.REQUIRED
  api_key_env: str | None = None
  max_concurrency: int = 8
  max_retries: int = 4
  timeout_s: float = 60.0
  backoff_base_s: float = 0.5
  backoff_max_s: float = 30.0
  seed: int = 0
  temperature: float = 0.0
  max_tokens: int | None = None
  extra_body: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    for name in ("base_url", "model"):
      value = getattr(self, name)
      if not isinstance(value, str) or not value:
        # A gin macro bound to %gin.REQUIRED and never set arrives as a sentinel object.
        raise ValueError(f"ClientConfig.{name} must be a non-empty string, got {value!r}; "
                         "is a required gin macro (e.g. TRANSLATOR_MODEL) unset?")
    if self.max_concurrency < 1:
      raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
    if self.max_retries < 0:
      raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
    if self.timeout_s <= 0:
      raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

  def api_key(self) -> str | None:
    if self.api_key_env is None:
      return None
    key = os.environ.get(self.api_key_env)
    if not key:
      raise ValueError(f"environment variable {self.api_key_env} (ClientConfig.api_key_env) "
                       "is not set; set it to the API key, or set api_key_env to None for a "
                       "server that needs no key")
    return key


class ClientError(Exception):
  """Base class of everything this client raises for a request."""


class RequestRejected(ClientError):
  """The server refused the request with a non-retryable status (4xx other than 429)."""

  def __init__(self, status: int, message: str):
    super().__init__(f"HTTP {status}: {message}")
    self.status = status
    self.message = message


class RetriesExhausted(ClientError):
  """Every attempt failed with a retryable error; `last` says how the final one failed."""

  def __init__(self, attempts: int, last: str):
    super().__init__(f"gave up after {attempts} attempts; last error: {last}")
    self.attempts = attempts
    self.last = last


class BadResponse(ClientError):
  """A 200 answer that is not a chat completion (no choices[0].message.content)."""


@dataclasses.dataclass(frozen=True)
class Completion:
  text: str
  finish_reason: str | None
  attempts: int  # 1 when the first attempt succeeded


@dataclasses.dataclass
class ClientStats:
  """What a client did. `retry_reasons` counts retries by cause ('timeout', 'http 500', ...)."""
  requests: int = 0  # calls to chat()
  attempts: int = 0  # HTTP attempts, retries included
  retries: int = 0
  succeeded: int = 0
  failed: int = 0
  retry_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def add(self, other: ClientStats) -> None:
    for field in ("requests", "attempts", "retries", "succeeded", "failed"):
      setattr(self, field, getattr(self, field) + getattr(other, field))
    self.retry_reasons.update(other.retry_reasons)

  def as_dict(self) -> dict[str, Any]:
    out = dataclasses.asdict(self)
    out["retry_reasons"] = dict(sorted(self.retry_reasons.items()))
    return out


class _Retryable(Exception):
  def __init__(self, reason: str, detail: str, wait_hint_s: float | None = None):
    super().__init__(detail)
    self.reason = reason
    self.wait_hint_s = wait_hint_s


def _server_message(response: httpx.Response) -> str:
  """The `error.message` of an OpenAI-style error body, else the raw body (shortened)."""
  try:
    body = response.json()
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message") if isinstance(error, dict) else error
    if message:
      return str(message)
  except (json.JSONDecodeError, ValueError):
    pass
  return response.text[:500] or response.reason_phrase


def _retry_after_s(response: httpx.Response) -> float | None:
  try:
    return float(response.headers["retry-after"])
  except (KeyError, ValueError):
    return None


class ChatClient:
  """Chat completions against one server and model; an async context manager."""

  def __init__(self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None = None):
    self.config = config
    self.stats = ClientStats()
    self._transport = transport
    self._rng = random.Random(config.seed)
    self._headers = {"Content-Type": "application/json"}
    key = config.api_key()
    if key:
      self._headers["Authorization"] = f"Bearer {key}"
    self._http: httpx.AsyncClient | None = None
    self._semaphore: asyncio.Semaphore | None = None

  async def __aenter__(self) -> ChatClient:
    limits = httpx.Limits(max_connections=self.config.max_concurrency,
                          max_keepalive_connections=self.config.max_concurrency)
    self._http = httpx.AsyncClient(base_url=self.config.base_url.rstrip("/") + "/",
                                   headers=self._headers, timeout=self.config.timeout_s,
                                   limits=limits, transport=self._transport)
    self._semaphore = asyncio.Semaphore(self.config.max_concurrency)
    return self

  async def __aexit__(self, *exc_info) -> None:
    assert self._http is not None
    await self._http.aclose()
    self._http = None

  def _payload(self, messages: Messages, overrides: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": self.config.model, "messages": [dict(m) for m in messages],
                               "temperature": self.config.temperature, "seed": self.config.seed}
    if self.config.max_tokens is not None:
      payload["max_tokens"] = self.config.max_tokens
    payload.update(self.config.extra_body)
    payload.update(overrides)
    return payload

  def _backoff_s(self, retry: int, hint_s: float | None) -> float:
    wait = min(self.config.backoff_max_s, self.config.backoff_base_s * 2**retry)
    wait *= 0.5 + 0.5 * self._rng.random()  # jitter: concurrent retries do not stampede
    if hint_s is not None:
      wait = max(wait, min(hint_s, self.config.backoff_max_s))
    return wait

  async def _attempt(self, payload: dict[str, Any], timeout_s: float) -> Completion:
    assert self._http is not None, "use `async with ChatClient(...)`"
    try:
      async with asyncio.timeout(timeout_s):
        response = await self._http.post("chat/completions", json=payload, timeout=timeout_s)
    except (TimeoutError, httpx.TimeoutException) as e:
      raise _Retryable("timeout", f"no answer within {timeout_s:g}s") from e
    except httpx.TransportError as e:
      raise _Retryable("connection", f"{type(e).__name__}: {e}") from e
    status = response.status_code
    if status == 429 or status >= 500:
      raise _Retryable(f"http {status}", f"HTTP {status}: {_server_message(response)}",
                       _retry_after_s(response))
    if status != 200:
      raise RequestRejected(status, _server_message(response))
    try:
      choice = response.json()["choices"][0]
      text = choice["message"]["content"]
    except (json.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as e:
      raise BadResponse(f"not a chat completion: {response.text[:500]!r}") from e
    if not isinstance(text, str):
      raise BadResponse(f"message content is {type(text).__name__}, not text")
    return Completion(text=text, finish_reason=choice.get("finish_reason"), attempts=0)

  async def chat(self, messages: Messages, *, timeout_s: float | None = None,
                 **overrides: Any) -> Completion:
    """One chat completion, retried as the config says.

    Args:
      messages: OpenAI-style [{"role": ..., "content": ...}, ...].
      timeout_s: this request's per-attempt deadline (default: config.timeout_s).
      **overrides: request fields that replace the config's (temperature=..., max_tokens=...).

    Raises:
      RequestRejected: a 4xx other than 429 (not retried).
      RetriesExhausted: every attempt hit a connection error, timeout, 429 or 5xx.
      BadResponse: a 200 whose body is not a chat completion (not retried).
    """
    assert self._semaphore is not None, "use `async with ChatClient(...)`"
    payload = self._payload(messages, overrides)
    deadline = self.config.timeout_s if timeout_s is None else timeout_s
    self.stats.requests += 1
    for attempt in range(self.config.max_retries + 1):
      self.stats.attempts += 1
      try:
        async with self._semaphore:  # held per attempt: a request backing off frees its slot
          done = await self._attempt(payload, deadline)
      except _Retryable as e:
        if attempt == self.config.max_retries:
          self.stats.failed += 1
          raise RetriesExhausted(attempt + 1, str(e)) from e
        self.stats.retries += 1
        self.stats.retry_reasons[e.reason] += 1
        await asyncio.sleep(self._backoff_s(attempt, e.wait_hint_s))
      except ClientError:
        self.stats.failed += 1
        raise
      else:
        self.stats.succeeded += 1
        return dataclasses.replace(done, attempts=attempt + 1)
    raise AssertionError("unreachable")


Result = Completion | ClientError


async def chat_many(client: ChatClient, requests: Sequence[Messages],
                    on_result: Callable[[int, Result], None] | None = None,
                    **overrides: Any) -> list[Result]:
  """All requests concurrently (bounded by the client's semaphore), results in input order.

  A request's ClientError is returned in its slot instead of raised. `on_result(index,
  result)` runs in the event loop as each request finishes. A fixed pool of workers pulls
  requests, so a million requests cost a million results, not a million pending tasks.
  """
  results: list[Result | None] = [None] * len(requests)
  pending = iter(range(len(requests)))

  async def worker() -> None:
    for index in pending:  # shared iterator: each index goes to exactly one worker
      try:
        result: Result = await client.chat(requests[index], **overrides)
      except ClientError as e:
        result = e
      results[index] = result
      if on_result is not None:
        on_result(index, result)

  # More workers than slots, so requests sleeping in backoff leave no slot idle.
  n_workers = min(len(requests), 4 * client.config.max_concurrency)
  await asyncio.gather(*(worker() for _ in range(n_workers)))
  return results  # type: ignore[return-value]  # every slot is filled


def run_chats(config: ClientConfig, requests: Sequence[Messages],
              on_result: Callable[[int, Result], None] | None = None,
              stats: ClientStats | None = None, **overrides: Any) -> list[Result]:
  """Sync wrapper of `chat_many` with a fresh client; adds the client's counts to `stats`."""
  async def go() -> tuple[list[Result], ClientStats]:
    async with ChatClient(config) as client:
      return await chat_many(client, requests, on_result, **overrides), client.stats

  results, run_stats = asyncio.run(go())
  if stats is not None:
    stats.add(run_stats)
  return results
