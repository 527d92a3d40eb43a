"""Checkpoint serialisation that names the project's own types as safe to load.

LangGraph warns about (and will block) unregistered types read back from a checkpoint; the
graph state holds pydantic models and enums, so they are registered here, derived from the
state schema so the list cannot drift.
"""

from __future__ import annotations

import typing
from enum import Enum
from functools import lru_cache

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel


def _collect(annotation: typing.Any, found: set[tuple[str, str]]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, Enum)):
        key = (annotation.__module__, annotation.__qualname__)
        if key in found or not annotation.__module__.startswith("agent_graph"):
            return
        found.add(key)
        if issubclass(annotation, BaseModel):
            for field in annotation.model_fields.values():
                _collect(field.annotation, found)
        return
    for argument in typing.get_args(annotation):
        _collect(argument, found)


@lru_cache(maxsize=1)
def state_types() -> tuple[tuple[str, str], ...]:
    from agent_graph.state import AgentState

    found: set[tuple[str, str]] = set()
    _collect(AgentState, found)
    return tuple(sorted(found))


def checkpoint_serde() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=list(state_types()))
