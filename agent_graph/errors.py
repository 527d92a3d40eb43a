"""Exception types with messages a support engineer can act on."""

from __future__ import annotations


class CaseAgentError(Exception):
    """Base class of every error the agent raises on purpose."""


MAX_LINE = 500
"""Longest line of an error message: a message never echoes a huge input back."""
MAX_PROBLEMS = 20
"""Most problems a catalog error lists; the rest are counted."""


def bounded(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


class ConfigurationError(CaseAgentError):
    """A setting (a command-line option, an environment variable, a database URL) cannot be used as given."""


class StoreUnavailable(ConfigurationError):
    """The case database cannot be opened, or created, at the URL given."""


class CatalogError(CaseAgentError):
    """A catalog file is unreadable or inconsistent. Lists every problem found (up to MAX_PROBLEMS),
    one line each; a single problem makes a one-line message."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [bounded(f"{source}: {where}: {what}") for where, what in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"… and {len(problems) - MAX_PROBLEMS} more problem(s)")
        super().__init__(f"invalid catalog: {lines[0]}" if len(problems) == 1
                         else f"invalid catalog, {len(problems)} problems:\n" + "\n".join(lines))


class CatalogNotFound(CatalogError):
    """There is no catalog file where one was looked for."""

    def __init__(self, source: str, hint: str = ""):
        CaseAgentError.__init__(self, f"catalog not found: {source}" + (f" ({hint})" if hint else ""))
        self.source = source
        self.problems = [("(file)", "not found")]


class EmailParseError(CaseAgentError):
    """An inbound email cannot be parsed (no sender, unreadable MIME)."""


class TemplateRenderError(CaseAgentError):
    """A template could not be rendered for a case (e.g. a field the case lacks)."""


class PolicyViolation(CaseAgentError):
    """A tool was asked to do something the policy forbids. Nothing was changed."""


class WrongLanguageError(PolicyViolation):
    """An email cannot be written in the customer's language (no template in it, and the brain does not
    write it), or a draft came out in another language. Nothing was stored: the case goes to a person."""


class SubAgentError(CaseAgentError):
    """A request the sub-agent cannot carry out (unknown case, an email of another case)."""


class ThreadFormatError(CaseAgentError):
    """A recorded thread file for replay is not in the format of formats.md §2."""
