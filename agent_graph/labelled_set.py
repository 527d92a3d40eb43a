"""Labelled sets of the measurement commands (``eval-replies``, ``eval-languages``): JSON Lines,
one labelled row a line, each row in a split (``dev`` to tune on, ``held`` to report)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Row = TypeVar("Row", bound=BaseModel)


class Split(StrEnum):
    DEV = "dev"
    HELD = "held"


class LabelledSetError(ValueError):
    """The labelled set could not be read: the message names the file and line."""


def load_rows(path: Path, row: type[Row], shape: str, what: str) -> list[Row]:
    """The rows of a labelled set; a malformed line is an error naming it and the ``shape`` expected
    (``what``: the rows' name, for an empty file)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(row.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise LabelledSetError(f"{path}:{number}: expected {shape}: {exc}") from None
    if not rows:
        raise LabelledSetError(f"{path}: no {what}")
    return rows
