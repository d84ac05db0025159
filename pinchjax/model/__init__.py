"""The decoder (config, transformer, KV cache) and Hugging Face interchange."""
from pinchjax.model.config import ModelConfig
from pinchjax.model.kv_cache import KVCache, LayerCache, init_cache
from pinchjax.model.transformer import Transformer, init_model
