"""`pinchjax serve`: an OpenAI-compatible HTTP server over a checkpoint.

Settings are gin bindings of `ServeConfig` (pinchjax.infer.serve) and `load_generator`
(pinchjax.infer.loading); each flag from --max-context on is an alias of one (--max-batch 8 =
--gin.ServeConfig.max_batch=8). Binds 127.0.0.1 unless --host
says otherwise. With an API key (from the environment variable named by --api-key-env, so it
never shows in `ps`), requests need `Authorization: Bearer KEY`. The port is bound at once
(/health: 503 while loading); `serving MODEL on http://HOST:PORT` is printed once the model is
loaded and warmed up (with --port 0, the port chosen). SIGTERM/SIGINT drain and exit 0.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
from typing import NoReturn

from pinchjax import gin_config


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so its configurables (and those of the modules it
  # uses: ServeConfig, DecodeConfig, load_generator, get_vocabulary, make_mesh, ...) can be
  # bound.
  from pinchjax.infer import loading, serve  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.splitlines()[0]
  parser.epilog = ("Each flag from --max-context on is an alias of a gin binding "
                   "(--max-batch 8 = --gin.ServeConfig.max_batch=8); a flag and a --gin. "
                   "override of the same binding together are an error.")
  parser.add_argument("--checkpoint", required=True,
                      help="Hugging Face-format directory or a pinchjax run's checkpoints "
                      "directory (which holds its vocabulary; one from before runs saved it "
                      "needs --gin.get_vocabulary.path=\"'PATH'\")")
  parser.add_argument("--model-name", help="the model id clients send (default: the run's "
                      "name, NAME of runs/NAME/checkpoints, else the directory's name)")
  alias = functools.partial(gin_config.alias, parser)
  alias("--max-context", "load_generator.max_context", type=int,
        help="prompt + new tokens (default: model's)")
  alias("--template", "load_generator.template", help="chat template (default: the "
        "checkpoint's: a run's saved one, a Hugging Face tokenizer's own, else the model "
        "family's)")
  alias("--host", "ServeConfig.host", help="default 127.0.0.1")
  alias("--port", "ServeConfig.port", type=int, help="0 picks a free port")
  alias("--api-key-env", "ServeConfig.api_key_env",
        help="environment variable holding the API key (unset: no key)")
  alias("--max-batch", "ServeConfig.max_batch", type=int)
  alias("--batch-wait-ms", "ServeConfig.batch_wait_ms", type=float,
        help="how long the first request of a batch waits for company")
  alias("--default-max-tokens", "ServeConfig.default_max_tokens", type=int)
  alias("--grace-period-s", "ServeConfig.grace_period_s", type=float,
        help="on SIGTERM/SIGINT, time for requests in flight (default 30)")
  alias("--body-timeout-s", "ServeConfig.body_timeout_s", type=float,
        help="time for a request body to arrive, else 408 (default 30)")
  alias("--max-body-bytes", "ServeConfig.max_body_bytes", type=int)
  alias("--warmup", "ServeConfig.warmup", action=argparse.BooleanOptionalAction,
        help="compile every decode shape before serving (default: on)")
  alias("--verbose", "ServeConfig.verbose", action=argparse.BooleanOptionalAction,
        help="log every request")
  parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> NoReturn:
  from pinchjax.infer import loading, serve  # pylint: disable=import-outside-toplevel
  from pinchjax.infer.run import run_name  # pylint: disable=import-outside-toplevel
  from pinchjax.parallel import cpu_host  # pylint: disable=import-outside-toplevel
  cpu_host.use_for_decoding()  # before the checkpoint loads (JAX starts then)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  config = serve.ServeConfig()  # gin's, the flags' bindings included
  name = args.model_name or run_name(args.checkpoint)
  server = serve.Server(functools.partial(loading.load_generator, args.checkpoint),
                        name, config, api_key=os.environ.get(config.api_key_env))
  serve.run_process(server)
