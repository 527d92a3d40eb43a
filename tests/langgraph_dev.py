"""`langgraph dev` for the tests that need a real LangGraph server: started on a free local port, in
its own session, and stopped by the PID the test started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 120.0


@contextmanager
def langgraph_dev(folder: Path, config: dict[str, Any], variables: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """The server for ``config`` (a langgraph.json, written to ``folder``) with ``variables`` set, on
    127.0.0.1: its URL and log file. FileNotFoundError without the langgraph CLI, RuntimeError when
    the server does not start."""
    cli = Path(sys.executable).with_name("langgraph")
    if not cli.exists():
        raise FileNotFoundError(f"{cli} missing: install the dev extras (pip install -e '.[dev]')")
    url = f"http://127.0.0.1:{free_port()}"
    log = folder / "langgraph-dev.log"
    config_file = folder / "langgraph.json"
    config_file.write_text(json.dumps(config, indent=2))
    environment = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
                   "LANGCHAIN_TRACING_V2": "false", **variables}
    command = [str(cli), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1],
               "--config", str(config_file)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until_ready(process, url, log)
        yield url, log
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"langgraph dev exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"langgraph dev not ready after {STARTUP_TIMEOUT:.0f}s:\n{log.read_text(errors='replace')}")


def stop(process: subprocess.Popen) -> None:
    """The server runs in its own session: end its process group, by the PID we started."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
