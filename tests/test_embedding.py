"""The bundled sentence embedding: loaded from the installed package, never from the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from agent_graph.brain.embedding import DIMENSION, embed

# Run in a fresh interpreter: every way out to the network raises, and the home and cache folders
# are empty, so neither a download nor a file cached by an earlier download can serve the model.
NO_NETWORK = textwrap.dedent("""
    import json, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access attempted while loading the embedding")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from agent_graph.brain.embedding import embed

    vectors = embed(["Where is my parcel?", "I want my money back"])
    print(json.dumps({"attempts": attempts, "shape": list(vectors.shape),
                      "norms": [float(n) for n in (vectors ** 2).sum(axis=1)]}))
""")


def test_model_loads_and_embeds_without_the_network(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HF_", "TRANSFORMERS_", "WORDLLAMA")) and key not in {"XDG_CACHE_HOME"}}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", NO_NETWORK], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["shape"] == [2, DIMENSION]
    assert np.allclose(result["norms"], 1.0, atol=1e-5)
    assert not any(home.rglob("*")), "loading the model wrote to the home or cache folder"


def test_similar_requests_are_closer_than_unrelated_ones() -> None:
    a, b, c = embed(["My parcel has not arrived yet", "The package never showed up", "I forgot my password"])
    assert float(a @ b) > float(a @ c)


def test_a_text_without_tokens_is_a_zero_row() -> None:
    vectors = embed(["", "hello"])
    assert np.all(np.isfinite(vectors))
    assert not vectors[0].any() and np.isclose(float(vectors[1] @ vectors[1]), 1.0, atol=1e-5)
    assert embed([]).shape == (0, DIMENSION)
