"""A pretrained sentence embedding that ships inside a package: wordllama's ``l2_supercat_256``.

Static token embeddings distilled from a large language model, pooled per text; numpy only, no
network. wordllama's own loader looks for its bundled files in the wrong folder and then tries
to download them, so we point it at the installed package folder and forbid downloads: a missing
file is an error here, never a network call.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from wordllama.inference import WordLlamaInference

MODEL_NAME = "l2_supercat"
DIMENSION = 256


class EmbeddingUnavailable(RuntimeError):
    """The bundled embedding model could not be loaded (package missing or incomplete)."""


def package_folder() -> Path:
    import wordllama

    return Path(wordllama.__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def model() -> WordLlamaInference:
    """The embedding model, loaded once per process from the installed wordllama package."""
    try:
        from wordllama import WordLlama

        return WordLlama.load(config=MODEL_NAME, dim=DIMENSION, cache_dir=package_folder(),
                              disable_download=True)
    except Exception as error:  # ImportError, FileNotFoundError, a corrupt safetensors file
        raise EmbeddingUnavailable(
            f"the bundled sentence embedding ({MODEL_NAME}, {DIMENSION} dimensions) could not be loaded from "
            f"the wordllama package: {error}. Reinstall case-agent's dependencies (pip install -e .)") from error


def embed(texts: list[str]) -> np.ndarray:
    """One L2-normalised row of ``DIMENSION`` floats per text (cosine similarity = dot product); a
    text without a single token (the empty string) gets a row of zeros, similar to nothing."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    vectors = np.asarray(model().embed(texts, norm=False), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit
