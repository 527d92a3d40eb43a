"""Where the agent looks when a setting is not given: the case store and the catalog.

Light on purpose (no third-party import): the command line reads it to print its help.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DB = "sqlite:///case-agent.db"
"""The case store: a SQLite file in the current folder."""

PROJECT = Path(__file__).resolve().parent.parent
"""The project folder the package runs from (a checkout, or an editable install)."""

EXAMPLE_CATALOG = PROJECT / "examples" / "catalog.yaml"
"""The project's example catalog (Tidewater Bikes), found from the package itself, so that the
default is the same file whatever the current folder. An installed wheel has no ``examples/``:
there the catalog must be given (``--catalog`` or ``CASE_AGENT_CATALOG``)."""

DEFAULT_CATALOG = str(EXAMPLE_CATALOG)
