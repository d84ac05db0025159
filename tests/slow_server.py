"""`pinchjax serve`'s process (`serve.run_process`) over a stand-in that loads in LOAD_S
seconds and decodes one word every DELAY seconds, for the shutdown tests:

  python tests/slow_server.py LOAD_S DELAY GRACE_S
"""
import logging
import sys
import time

from pinchjax.infer import serve
from test_infer_server_api import SlowGenerator


def load(seconds, delay):
  time.sleep(seconds)
  return SlowGenerator(delay)


if __name__ == "__main__":
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
  load_s, delay, grace = map(float, sys.argv[1:])
  config = serve.ServeConfig(port=0, grace_period_s=grace, warmup=False)
  serve.run_process(serve.Server(lambda: load(load_s, delay), "slow", config))
