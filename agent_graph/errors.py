"""Exception types with messages a support engineer can act on."""

from __future__ import annotations


class CaseAgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class CatalogError(CaseAgentError):
    """A catalog file is unreadable or inconsistent. Lists every problem found."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {where}: {what}" for where, what in problems]
        super().__init__("invalid catalog\n" + "\n".join(lines))


class EmailParseError(CaseAgentError):
    """An inbound email cannot be parsed (no sender, unreadable MIME)."""


class TemplateRenderError(CaseAgentError):
    """A template could not be rendered for a case (e.g. a field the case lacks)."""


class PolicyViolation(CaseAgentError):
    """A tool was asked to do something the policy forbids. Nothing was changed."""


class ThreadFormatError(CaseAgentError):
    """A recorded thread file for replay is not in the format of formats.md §2."""
