"""pinchjax: multilingual instruction tuning studies in JAX."""
from setuptools import find_packages, setup

# Exact pins that were resolved and installed together on Python 3.11 (CPU).
# `pip install pinchjax[ray]`: the study's Ray executor (`pinchjax study --executor ray`).
RAY_REQUIRES = ["ray==2.60.0"]

INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "seqio==0.0.20",
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorflow-datasets==4.9.10",
    "tensorboard==2.21.0",
    "sentencepiece==0.2.3",
    "tokenizers==0.23.3",
    "jinja2==3.1.6",  # Hugging Face chat templates (3.1.6: the sandbox fixes they need)
    "gin-config==0.5.0",
    "clu==0.0.12",
    "safetensors==0.8.0",
    "ml_dtypes==0.6.0",
    "py3langid==0.4.0",
    "httpx==0.28.1",
    "starlette==1.10.0",
    "uvicorn==0.55.0",
    "matplotlib==3.11.2",
    "numpy==2.4.6",
]

TEST_REQUIRES = [
    "pytest==9.2.0",
    "torch==2.13.0",
    "transformers==5.24.0",
    "openai==3.57.0",
    "lm-eval[api]==0.4.13",
    *RAY_REQUIRES,
    "peft==0.21.2",  # LoRA adapter interop tests; pulls accelerate, keeps torch 2.13.0
]


setup(
    name="pinchjax",
    version="0.1.0",
    description="JAX-native multilingual instruction tuning studies",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pinchjax", "pinchjax.*", "tasks"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "ray": RAY_REQUIRES},
    entry_points={"console_scripts": ["pinchjax=pinchjax.cli:main"]},
)
