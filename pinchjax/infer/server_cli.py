"""`pinchjax serve`: an OpenAI-compatible HTTP server over a checkpoint.

Settings are gin bindings of `ServeConfig` (pinchjax.infer.serve); each flag below is an
alias of one (--max-batch 8 = --gin.ServeConfig.max_batch=8). Binds 127.0.0.1 unless --host
says otherwise. With an API key (from the environment variable named by --api-key-env, so it
never shows in `ps`), requests need `Authorization: Bearer KEY`. The port is bound at once
(/health: 503 while loading); `serving MODEL on http://HOST:PORT` is printed once the model is
loaded and warmed up (with --port 0, the port chosen). SIGTERM/SIGINT drain and exit 0.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
  from pinchjax.infer.serve import ServeConfig


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so its configurables (and those of the modules it
  # uses: ServeConfig, DecodeConfig, load_generator, get_vocabulary, make_mesh, ...) can be
  # bound.
  from pinchjax.infer import loading, serve  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.splitlines()[0]
  parser.epilog = ("Each flag from --host on is an alias of a gin binding of ServeConfig "
                   "(--max-batch 8 = --gin.ServeConfig.max_batch=8); a flag given overrides it.")
  parser.add_argument("--checkpoint", required=True,
                      help="Hugging Face-format directory or a pinchjax run's checkpoints "
                      "directory (which holds its vocabulary; one from before runs saved it "
                      "needs --gin.get_vocabulary.path=\"'PATH'\")")
  parser.add_argument("--model-name", help="the model id clients send (default: the run's "
                      "name, NAME of runs/NAME/checkpoints, else the directory's name)")
  parser.add_argument("--max-context", type=int, help="prompt + new tokens (default: model's)")
  parser.add_argument("--template", help="chat template (default: the checkpoint's: a run's "
                      "saved one, a Hugging Face tokenizer's own, else the model family's)")
  # Aliases of ServeConfig fields; left out (None), the gin binding (or the default) holds.
  parser.add_argument("--host")
  parser.add_argument("--port", type=int, help="0 picks a free port")
  parser.add_argument("--api-key-env",
                      help="environment variable holding the API key (unset: no key)")
  parser.add_argument("--max-batch", type=int)
  parser.add_argument("--batch-wait-ms", type=float,
                      help="how long the first request of a batch waits for company")
  parser.add_argument("--default-max-tokens", type=int)
  parser.add_argument("--grace-period-s", type=float,
                      help="on SIGTERM/SIGINT, time for requests in flight (default 30)")
  parser.add_argument("--body-timeout-s", type=float,
                      help="time for a request body to arrive, else 408 (default 30)")
  parser.add_argument("--max-body-bytes", type=int)
  parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=None,
                      help="compile every decode shape before serving (default: on)")
  parser.add_argument("--verbose", action=argparse.BooleanOptionalAction, default=None,
                      help="log every request")
  parser.set_defaults(func=main)


def settings(args: argparse.Namespace) -> ServeConfig:
  """The `ServeConfig`: gin's bindings, overridden by the flags given."""
  from pinchjax.infer import serve  # pylint: disable=import-outside-toplevel
  fields = {f.name for f in dataclasses.fields(serve.ServeConfig)}
  return serve.ServeConfig(**{k: v for k, v in vars(args).items()
                              if k in fields and v is not None})


def main(args: argparse.Namespace) -> NoReturn:
  from pinchjax.infer import loading, serve  # pylint: disable=import-outside-toplevel
  from pinchjax.infer.run import run_name  # pylint: disable=import-outside-toplevel
  from pinchjax.parallel import cpu_host  # pylint: disable=import-outside-toplevel
  cpu_host.use_for_decoding()  # before the checkpoint loads (JAX starts then)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  config = settings(args)
  # Flags left out leave gin bindings of `load_generator` in force.
  given = {k: v for k, v in dict(template=args.template, max_context=args.max_context).items()
           if v is not None}
  name = args.model_name or run_name(args.checkpoint)
  server = serve.Server(functools.partial(loading.load_generator, args.checkpoint, **given),
                        name, config, api_key=os.environ.get(config.api_key_env))
  serve.run_process(server)
