"""Shared test settings. Keeps TensorFlow quiet and off any GPU.

Set CUDA_VISIBLE_DEVICES yourself to run the tests on a GPU. JAX matmuls run at
full float32 precision so the NumPy-reference tests hold on GPUs too (TF32 is
JAX's default there).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
