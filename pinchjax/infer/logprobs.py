"""Log-probabilities of tokens under the model's raw distribution (log_softmax of the logits,
before temperature or top-k/top-p filtering, as vLLM reports them by default).

The decode loop and the prefill call `token_logprobs` on device; `Scored` is what they hand
back per token: the token's own log-probability and the `k` most likely tokens at that place.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

# The most alternatives a request may ask for per token (vLLM's default `max_logprobs`).
MAX_TOP = 20


@dataclasses.dataclass(frozen=True)
class Scored:
  token: int
  logprob: float | None  # None for a first prompt token: nothing came before it
  top: tuple[tuple[int, float], ...] = ()  # (token, logprob), most likely first


def top_width(vocab_size: int) -> int:
  """The top-k width decoding computes, whatever k a row asks for (so that every k shares one
  compiled program): MAX_TOP, at most the vocabulary."""
  return min(MAX_TOP, vocab_size)


def token_logprobs(logits: jax.Array, chosen: jax.Array, k: int
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """logits [..., V], chosen [...] -> (chosen's logprob [...], top-k logprobs [..., k], their
  ids [..., k]), in float32."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  picked = jnp.take_along_axis(logp, chosen[..., None], axis=-1)[..., 0]
  values, ids = jax.lax.top_k(logp, k)
  return picked, values, ids.astype(jnp.int32)


def scored_row(tokens, logprobs, top_values, top_ids, k: int, first: int = 0
               ) -> list[Scored]:
  """Host-side `Scored`s of one row's tokens (numpy inputs) with `k` alternatives each; the
  first `first` tokens get no logprob (nothing was read before them)."""
  return [Scored(int(t), None if i < first else float(lp),
                 () if i < first else tuple((int(j), float(v))
                                            for j, v in zip(top_ids[i][:k], top_values[i][:k])))
          for i, (t, lp) in enumerate(zip(tokens, logprobs))]
