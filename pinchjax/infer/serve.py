"""Runs the OpenAI-compatible app (`pinchjax.infer.server`) on uvicorn, for operations.

- The port is bound first and the model loads (and warms up) in the background: /health
  answers 503 {"status": "loading"} until every decode shape is compiled, then 200.
- SIGTERM or SIGINT (or `Server.stop()`) drains: new requests get 503, those in flight finish
  within `grace_period_s`; streams still running then end with an error event and `[DONE]`,
  other requests with a 503. Then the port closes and `run()` returns 0. A second signal ends
  the grace period at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import sys
import threading
from typing import Callable, NoReturn, Sequence

import anyio
import gin
import uvicorn

from pinchjax import errors
from pinchjax.infer import warmup
from pinchjax.infer.batcher import Batcher
from pinchjax.infer.generator import Generator
from pinchjax.infer.openai_api import OpenAIApi
from pinchjax.infer.server import State, build_app

# Threads for blocking work (parsing, waiting on a decode, a stream's next piece): every
# waiting request holds one, so anyio's default of 40 would queue requests past it.
THREADS = 256


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ServeConfig:
  """How `pinchjax serve` serves; each field has a `--flag` alias (underscores as dashes)."""
  host: str = "127.0.0.1"
  port: int = 8000  # 0 picks a free port
  api_key_env: str = "PINCHJAX_API_KEY"  # the variable holding the key (unset: no key)
  max_batch: int = 32
  batch_wait_ms: float = 10.0  # how long the first request of a batch waits for company
  default_max_tokens: int = 256
  grace_period_s: float = 30.0  # on SIGTERM/SIGINT, for requests in flight to finish
  body_timeout_s: float = 30.0  # for a request body to arrive (else 408)
  max_body_bytes: int = 16 << 20  # else 413
  warmup: bool = True  # compile every decode shape before /health says ok
  warmup_max_tokens: Sequence[int] = ()  # max_tokens values clients send, besides the default
  verbose: bool = False  # log every request


class _Uvicorn(uvicorn.Server):
  """uvicorn's server, whose own shutdown on a signal would close the port at once and exit
  143 after (it re-raises the signal); ours drains instead."""

  def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None]):
    super().__init__(config)
    self._on_signal = on_signal

  def handle_exit(self, sig, frame) -> None:
    del sig, frame
    self._on_signal()


class Server:
  """Binds at construction (`address` has the port); `run()` serves until drained."""

  def __init__(self, load: Callable[[], Generator], model_name: str,
               config: ServeConfig | None = None, api_key: str | None = None):
    self.config = config = config or ServeConfig()
    self.state = State(model_name, api_key or None, config.max_body_bytes,
                       config.body_timeout_s)
    self._load = load
    self._socket = socket.create_server(
        (config.host, config.port), backlog=2048,
        family=socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    self.address: tuple[str, int] = self._socket.getsockname()[:2]
    self.exit_code = 0
    self._loop: asyncio.AbstractEventLoop | None = None
    self._drain: asyncio.Task | None = None
    self._hurry = asyncio.Event()
    app = build_app(self.state, self._lifespan)
    self._uvicorn = _Uvicorn(
        uvicorn.Config(app, log_config=None, access_log=config.verbose, lifespan="on",
                       # a backstop only: the drain has answered every request by then
                       timeout_graceful_shutdown=5),
        self.stop)

  @property
  def url(self) -> str:
    return f"http://{self.address[0]}:{self.address[1]}"

  def run(self) -> int:
    """Serves until drained; 0, or 1 if the model failed to load."""
    self._uvicorn.run(sockets=[self._socket])
    return self.exit_code

  def stop(self) -> None:
    """Starts the drain (from a signal handler or any thread); a second call ends the grace
    period now."""
    if self._loop is None:  # not started: nothing to drain
      self._uvicorn.should_exit = True
    else:
      self._loop.call_soon_threadsafe(self._on_stop)

  def _on_stop(self) -> None:
    if self._drain is None:
      self._drain = asyncio.ensure_future(self._drain_requests())
    else:
      self._hurry.set()

  @contextlib.asynccontextmanager
  async def _lifespan(self, app):
    del app
    self._loop = asyncio.get_running_loop()
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    logging.info("listening on %s; loading %s", self.url, self.state.model_name)
    threading.Thread(target=self._load_model, name="pinchjax-load", daemon=True).start()
    yield

  def _load_model(self) -> None:
    config = self.config
    try:
      generator = self._load()
      if config.warmup:
        warmup.warm_up(generator, config.max_batch,
                       (config.default_max_tokens, *config.warmup_max_tokens))
      api = OpenAIApi(generator, self.state.model_name, config.default_max_tokens)
      batcher = Batcher(generator, config.max_batch, config.batch_wait_ms / 1000)
    except (ValueError, OSError) as e:  # the user's to fix (a path, a flag): one line
      print(f"error: {errors.one_line(e)}", file=sys.stderr, flush=True)
      self._failed()
      return
    except Exception:  # pylint: disable=broad-except
      logging.exception("loading %s failed", self.state.model_name)
      self._failed()
      return
    self._loop.call_soon_threadsafe(self._ready, api, batcher)

  def _failed(self) -> None:
    self.exit_code = 1
    self.state.phase = "failed"
    self._uvicorn.should_exit = True

  def _ready(self, api: OpenAIApi, batcher: Batcher) -> None:
    self.state.api, self.state.batcher = api, batcher
    if self.state.phase == "loading":
      self.state.phase = "ok"
      print(f"serving {self.state.model_name} on {self.url}", flush=True)

  async def _drain_requests(self) -> None:
    state = self.state
    state.phase = "draining"
    logging.info("shutting down: %d requests in flight, %g s to finish", state.in_flight,
                 self.config.grace_period_s)
    with contextlib.suppress(TimeoutError):
      async with asyncio.timeout(self.config.grace_period_s):
        while state.in_flight and not self._hurry.is_set():
          await asyncio.sleep(0.05)
    if state.in_flight:
      logging.warning("grace period over: ending %d unfinished requests", state.in_flight)
      state.cut.set()
      with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):  # their last events go out
          while state.in_flight:
            await asyncio.sleep(0.05)
    self._uvicorn.should_exit = True


def run_process(server: Server) -> NoReturn:
  """Serves from the main thread (so SIGTERM/SIGINT drain) and ends the process with `run`'s
  code: a decode cut short by the grace period may still run in XLA on another thread, and
  the interpreter's normal exit would wait for it, or abort inside it."""
  code = server.run()
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access
