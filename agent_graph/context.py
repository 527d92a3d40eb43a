"""The run context (LangGraph ``context_schema``) and the services built from it."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import CoreSchema, core_schema

from agent_graph.brain.base import Brain
from agent_graph.catalog import AutomationLevel, Catalog, load_catalog
from agent_graph.clock import Clock, FixedClock, SystemClock, parse_instant
from agent_graph.defaults import DEFAULT_CATALOG, DEFAULT_DB
from agent_graph.domain import Actor
from agent_graph.errors import ConfigurationError, bounded
from agent_graph.mailbox import LocalMailbox, Mailbox
from agent_graph.store import CaseStore


def _from_environment(name: str, default: str) -> str:
    return os.environ.get(name) or default


class _Injected:
    """Pydantic marker for an object injected in code, never sent over HTTP: accepted as is, and
    left out of the JSON schema the LangGraph server publishes (``GET /assistants/{id}/schemas``,
    which Studio reads; without it that endpoint fails on these types)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.any_schema()


@dataclass
class Context:
    """Per-run settings. Paths and names come from the environment when not given;
    objects (store, catalog, brain, mailbox, clock) may be injected instead, as tests do."""

    catalog_path: str = field(default_factory=lambda: _from_environment("CASE_AGENT_CATALOG", DEFAULT_CATALOG))
    """The service catalog YAML (variable CASE_AGENT_CATALOG)."""
    db_url: str = field(default_factory=lambda: _from_environment("CASE_AGENT_DB", DEFAULT_DB))
    """SQLAlchemy URL of the case store (variable CASE_AGENT_DB)."""
    brain: str = field(default_factory=lambda: _from_environment("CASE_AGENT_BRAIN", "offline"))
    """Which brain proposes: ``offline`` (variable CASE_AGENT_BRAIN)."""
    automation: dict[str, AutomationLevel] = field(default_factory=dict)
    """Automation level per LOB id, overriding the catalog for this run."""
    now: str | None = None
    """Pin the clock to this ISO-8601 instant (replays); default: the system clock."""
    store: Annotated[CaseStore | None, _Injected, SkipJsonSchema()] = None
    catalog: Annotated[Catalog | None, _Injected, SkipJsonSchema()] = None
    brain_engine: Annotated[Brain | None, _Injected, SkipJsonSchema()] = None
    mailbox: Annotated[Mailbox | None, _Injected, SkipJsonSchema()] = None
    clock: Annotated[Clock | None, _Injected, SkipJsonSchema()] = None

    @cached_property
    def services(self) -> Services:
        """The objects the nodes use, resolved once for this context: a run's under the LangGraph
        server (it builds one context per run), a :class:`~agent_graph.service.CaseAgent`'s for all
        its runs (their objects are injected). Not a field: the server never sees it."""
        store = self.store or shared_store(self.db_url)
        clock = self.clock or (FixedClock(parse_instant(self.now)) if self.now else SystemClock())
        return Services(
            catalog=self.catalog or cached_catalog(self.catalog_path),
            store=store,
            brain=self.brain_engine or make_brain(self.brain),
            mailbox=self.mailbox or LocalMailbox(store),
            clock=clock,
            automation={k: AutomationLevel(v) for k, v in self.automation.items()},
        )


@dataclass
class Services:
    catalog: Catalog
    store: CaseStore
    brain: Brain
    mailbox: Mailbox
    clock: Clock
    automation: dict[str, AutomationLevel]

    def log_interaction(self, case_id: int | None, actor: Actor, kind: str, summary: str,
                        detail: dict[str, Any] | None = None) -> None:
        """Log an agent action or a representative decision (an interaction), when the catalog keeps them."""
        if self.catalog.record_interactions:
            self.store.add_interaction(case_id, actor, kind, summary, self.clock.now(), detail)

    def automation_for(self, lob_id: str, run_override: AutomationLevel | None = None) -> AutomationLevel:
        if run_override is not None:
            return run_override
        if lob_id in self.automation:
            return AutomationLevel(self.automation[lob_id])
        lob = self.catalog.lob(lob_id)
        return lob.automation if lob else AutomationLevel.DISABLED


_lock = threading.Lock()
_stores: dict[str, CaseStore] = {}
_catalogs: dict[tuple[str, float], Catalog] = {}


def shared_store(url: str) -> CaseStore:
    """One store (engine and connection pool) per URL per process, built on first use."""
    with _lock:
        if url not in _stores:
            _stores[url] = CaseStore(url)
        return _stores[url]


def cached_catalog(path: str) -> Catalog:
    """The catalog at path, reloaded when the file changes."""
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime)
    with _lock:
        if key not in _catalogs:
            _catalogs[key] = load_catalog(path)
        return _catalogs[key]


def make_brain(name: str) -> Brain:
    """The brain called ``name``; ConfigurationError for a name there is no brain for."""
    if name == "offline":
        from agent_graph.brain.offline import OfflineBrain

        return OfflineBrain()
    if name == "llm":
        from agent_graph.brain.llm.brain import shared_brain
        from agent_graph.brain.llm.settings import LLMSettings

        return shared_brain(LLMSettings.from_environment())
    raise ConfigurationError(f"unknown brain {bounded(name, 60)!r}: choose 'offline' or 'llm'")


def services(context: Context | None) -> Services:
    """The objects the nodes use (:attr:`Context.services`: resolved once per context, so once per
    run, not once or twice per node)."""
    return (context or Context()).services
