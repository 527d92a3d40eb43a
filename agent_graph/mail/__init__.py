"""Mail connectors: where ``case-agent run`` reads inbound mail and how it delivers the outbox.

One interface, four implementations: a local folder (demo and tests), IMAP for reading and
SMTP for sending, and Microsoft Graph (an Exchange Online shared mailbox) for both. The service (``agent_graph.runner``) keeps each reader's position in the
store, so a connector only has to say where an email sits; it never decides what was processed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import BaseModel

from agent_graph.errors import CaseAgentError


class MailboxUnavailable(CaseAgentError):
    """The mail server cannot be reached or refused the session (the service retries with back-off)."""


class DeliveryDeferred(CaseAgentError):
    """A temporary delivery failure (SMTP 4xx, connection lost): try again later."""


class DeliveryRefused(CaseAgentError):
    """A permanent delivery failure (SMTP 5xx): sending the same email again would fail again."""


class Position(BaseModel):
    """Where reading stopped: ``position`` is only meaningful while ``epoch`` is unchanged."""

    epoch: str | None = None
    position: str | None = None


class FetchedEmail(BaseModel):
    raw: bytes
    at: Position
    """Where this email sits: once it is processed, reading resumes after it."""
    source: str
    """For logs and the quarantine: where the email came from (never its content)."""


class Inbox(Protocol):
    """Reads new mail, in order, after a position."""

    name: str
    """Identifies the folder read (its position is stored under this name); holds no secret."""

    def fetch(self, after: Position | None) -> Iterator[FetchedEmail]:
        """The emails after ``after`` (all of them for None, or when the epoch changed), oldest first."""
        ...

    def pending(self, after: Position | None) -> int:
        """How many emails wait after ``after``."""
        ...

    def done(self, email: FetchedEmail) -> None:
        """The email is processed: keep it, mark it seen or move it (``--after-processing``)."""
        ...

    def wait(self, seconds: float) -> None:
        """Return when new mail may have arrived, or after ``seconds``."""
        ...

    def close(self) -> None: ...


class Sender(Protocol):
    """Delivers one outbound email."""

    name: str

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str) -> None:
        """Hand the email over; DeliveryDeferred or DeliveryRefused when it was not accepted."""
        ...

    def already_sent(self, message_id: str) -> bool | None:
        """Whether an email with this Message-ID was delivered before (the Sent folder); None: cannot tell."""
        ...

    def close(self) -> None: ...


def open_inbox(url: str, after_processing: str = "keep", poll: float | None = None) -> Inbox:
    """``--mailbox``: ``imap://…``/``imaps://…``, ``graph://MAILBOX@DOMAIN``, or a folder of .eml files
    (a path or ``folder:PATH``)."""
    from pathlib import Path

    from agent_graph.errors import ConfigurationError

    kind, _, move_to = after_processing.partition(":")
    if kind not in ("keep", "seen", "move") or (kind == "move") != bool(move_to):
        raise ConfigurationError(f"--after-processing {after_processing}: choose keep, seen or move:FOLDER")
    if url.lower().startswith("graph://"):
        from agent_graph.mail.graph import GraphInbox, GraphMailbox

        return GraphInbox(GraphMailbox(url), kind, move_to or None, poll)
    if "://" in url:
        from agent_graph.mail.imap import AfterProcessing, ImapInbox
        from agent_graph.mail.settings import parse_server_url

        server = parse_server_url("--mailbox", url, "imap", "CASE_AGENT_MAILBOX_PASSWORD")
        return ImapInbox(server, AfterProcessing(kind), move_to or None, poll)
    from agent_graph.mail.folder import FolderInbox

    if kind == "seen":
        raise ConfigurationError("--after-processing seen: a folder of .eml files has no seen flag; "
                                 "use keep or move:FOLDER")
    return FolderInbox(Path(url.removeprefix("folder:")), move_to or None)


def open_sender(url: str | None, mailbox_url: str | None = None, sent_folder: str | None = None,
                append_sent: bool = False) -> Sender:
    """``--smtp``: ``smtp://…``/``smtps://…``, ``graph://MAILBOX@DOMAIN``, or a folder to write sent
    mail to; None sends through the ``graph://`` mailbox read. ``sent_folder`` is a folder of the
    IMAP account of ``mailbox_url``."""
    from pathlib import Path

    from agent_graph.errors import ConfigurationError

    graph_mailbox = mailbox_url if mailbox_url and mailbox_url.lower().startswith("graph://") else None
    if url is None and graph_mailbox is None:
        raise ConfigurationError("--smtp is needed (where mail goes out), unless --mailbox is graph://…")
    if url is None or url.lower().startswith("graph://"):
        from agent_graph.mail.graph import GraphMailbox, GraphSender

        if sent_folder or append_sent:
            raise ConfigurationError("--sent-folder and --append-sent are for --smtp smtp://…; Graph looks in "
                                     "the mailbox's Sent Items itself")
        return GraphSender(GraphMailbox(url or graph_mailbox or ""))
    if "://" in url:
        from agent_graph.mail.imap import SentFolder
        from agent_graph.mail.settings import parse_server_url
        from agent_graph.mail.smtp import SmtpSender

        sent = None
        if sent_folder:
            if not mailbox_url or not mailbox_url.lower().startswith(("imap://", "imaps://")):
                raise ConfigurationError("--sent-folder is a folder of the IMAP account: give --mailbox imap://…")
            account = parse_server_url("--mailbox", mailbox_url, "imap", "CASE_AGENT_MAILBOX_PASSWORD")
            sent = SentFolder(account, sent_folder, append_sent)
        elif append_sent:
            raise ConfigurationError("--append-sent needs --sent-folder")
        return SmtpSender(parse_server_url("--smtp", url, "smtp", "CASE_AGENT_SMTP_PASSWORD"), sent)
    from agent_graph.mail.folder import FolderSender

    if sent_folder or append_sent:
        raise ConfigurationError("--sent-folder and --append-sent are for --smtp smtp://…")
    return FolderSender(Path(url.removeprefix("folder:")))
