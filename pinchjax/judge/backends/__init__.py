"""Judge backends: openai_compatible (any OpenAI-compatible server), local (a pinchjax
checkpoint, scored through the inference path) and verifiable (a deterministic checker).

Import the one you use; the local backend pulls in JAX and the model code.
"""
