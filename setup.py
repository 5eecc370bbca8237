"""seqlab: a TFX-style pipeline for recurrent and attention sequence models."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
LAYERS = ("pipeline", "components", "serving", "models")  # .importlinter's layers

setup(
    name="seqlab",
    version="0.1.0",
    description="Beam preprocessing, Keras 3 sequence models and TF Serving exports, "
    "driven by one validated YAML config.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # Every package under the four layers (a forgotten subpackage fails only after install), and the built-in
    # configs as package data of `pipeline.configs`, so they travel with the code wherever pip puts it
    # (a venv, --user, --target, a Beam worker installing the `--setup_file` sdist); pipeline/config.py finds them.
    packages=[*find_packages(include=[f"{layer}*" for layer in LAYERS]), "pipeline.configs"],
    package_dir={"pipeline.configs": "configs"},
    package_data={"pipeline.configs": ["*.yaml"]},
    install_requires=[
        "tensorflow==2.21.*",
        "tensorflow-text==2.21.*",
        "keras>=3.15",
        "apache-beam[tfrecord]==2.77.*",
        "tensorflow-datasets",
        "sacrebleu>=2.4",
        "matplotlib",
        "pyyaml",
        "numpy",
        "tqdm",
        "filelock>=3.12",
        "tensorflow-serving-api==2.21.*",
        "grpcio>=1.60",
        "aiohttp>=3.9",
    ],
    extras_require={
        "test": ["pytest>=8", "jax[cpu]", "seqeval", "hypothesis>=6", "import-linter>=2.16"],
        "gcp": ["apache-beam[gcp]==2.77.*"],
        "gpu": ["tensorflow[and-cuda]==2.21.*"],
        "vectors": ["gensim>=4.3"],  # benchmarks/word_vectors.py trains word2vec vectors
    },
    entry_points={"console_scripts": ["seqlab=pipeline.cli:main"]},
)
