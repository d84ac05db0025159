"""`pinchjax serve`: an OpenAI-compatible HTTP server over a checkpoint.

Binds 127.0.0.1 unless --host says otherwise. With an API key (from the environment variable
named by --api-key-env, so it never shows in `ps`), requests need `Authorization: Bearer KEY`.
Prints `serving MODEL on http://HOST:PORT` once ready (with --port 0, the port chosen).
"""
from __future__ import annotations

import argparse
import os


def register(parser: argparse.ArgumentParser) -> None:
  # Imported before gin parses the flags, so its configurables (and those of the modules it
  # uses: DecodeConfig, load_generator, get_vocabulary, make_mesh, ...) can be bound.
  from pinchjax.infer import loading  # pylint: disable=import-outside-toplevel,unused-import
  parser.description = __doc__.splitlines()[0]
  parser.add_argument("--checkpoint", required=True,
                      help="Hugging Face-format directory or a pinchjax run's checkpoints "
                      "directory (which holds its vocabulary; one from before runs saved it "
                      "needs --gin.get_vocabulary.path=\"'PATH'\")")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
  parser.add_argument("--model-name", help="the model id clients send (default: the run's "
                      "name, NAME of runs/NAME/checkpoints, else the directory's name)")
  parser.add_argument("--api-key-env", default="PINCHJAX_API_KEY",
                      help="environment variable holding the API key (unset: no key)")
  parser.add_argument("--max-batch", type=int, default=32)
  parser.add_argument("--batch-wait-ms", type=float, default=10.0,
                      help="how long the first request of a batch waits for company")
  parser.add_argument("--default-max-tokens", type=int, default=256)
  parser.add_argument("--max-context", type=int, help="prompt + new tokens (default: model's)")
  parser.add_argument("--template", help="chat template (default: the checkpoint's: a run's "
                      "saved one, a Hugging Face tokenizer's own, else the model family's)")
  parser.add_argument("--verbose", action="store_true", help="log every request")
  parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
  from pinchjax.infer import loading  # pylint: disable=import-outside-toplevel
  from pinchjax.infer.run import run_name  # pylint: disable=import-outside-toplevel
  from pinchjax.infer.server import OpenAIServer
  from pinchjax.parallel import cpu_host  # pylint: disable=import-outside-toplevel
  cpu_host.use_for_decoding()  # before the checkpoint loads (JAX starts then)
  # Flags left out leave gin bindings of `load_generator` in force.
  given = {k: v for k, v in dict(template=args.template, max_context=args.max_context).items()
           if v is not None}
  generator = loading.load_generator(args.checkpoint, **given)
  name = args.model_name or run_name(args.checkpoint)
  server = OpenAIServer(generator, name, args.host, args.port,
                        api_key=os.environ.get(args.api_key_env), max_batch=args.max_batch,
                        batch_wait_s=args.batch_wait_ms / 1000,
                        default_max_tokens=args.default_max_tokens, verbose=args.verbose)
  host, port = server.server_address[:2]
  print(f"serving {name} on http://{host}:{port}", flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0
