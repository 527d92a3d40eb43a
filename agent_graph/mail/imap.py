"""IMAP: read a folder by UID, wait with IDLE, file sent mail in a Sent folder (imap-tools, imaplib).

The position is UIDVALIDITY and the last UID processed: UIDs only grow while UIDVALIDITY stays,
so a restart neither skips nor re-reads; when the server changes UIDVALIDITY, the folder is
read again from the start and the store's Message-ID check drops what was already processed.
"""

from __future__ import annotations

import imaplib
import re
import ssl
import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError, UnexpectedCommandStatusError

from agent_graph.mail import FetchedEmail, MailboxUnavailable, Position
from agent_graph.mail.oauth import access_token
from agent_graph.mail.settings import Auth, MailServer, Security

TIMEOUT = 30.0
"""Seconds a command may wait for the server before the connection counts as lost."""
IDLE_RENEW = 25 * 60
"""RFC 2177: re-issue IDLE at least every 29 minutes."""

#: Everything that means "the connection or the session is gone": reconnect later.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.error, UnexpectedCommandStatusError,
                                                       MailboxLoginError, ssl.SSLError, EOFError)


class AfterProcessing(StrEnum):
    KEEP = "keep"
    SEEN = "seen"
    MOVE = "move"


def connect(server: MailServer, folder: str | None = None) -> BaseMailBox:
    """Log in and select ``folder`` (default: the URL's); MailboxUnavailable when that fails."""
    try:
        mailbox: BaseMailBox
        if server.security is Security.TLS:
            mailbox = MailBox(server.host, server.port, timeout=TIMEOUT)
        elif server.security is Security.STARTTLS:
            mailbox = MailBoxStartTls(server.host, server.port, timeout=TIMEOUT)
        else:
            mailbox = MailBoxUnencrypted(server.host, server.port, timeout=TIMEOUT)
        target = folder or server.folder
        if server.auth is Auth.XOAUTH2:
            return mailbox.xoauth2(server.user, access_token(), initial_folder=target)
        assert server.password is not None
        return mailbox.login(server.user, server.password.get_secret_value(), initial_folder=target)
    except CONNECTION_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP {server.name}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


class ImapInbox:
    def __init__(self, server: MailServer, after: AfterProcessing = AfterProcessing.KEEP,
                 move_to: str | None = None, poll: float | None = None):
        self.server = server
        self.after = after
        self.move_to = move_to
        self.poll = poll
        self.name = f"imap://{server.name}/{server.folder}"
        self._mailbox: BaseMailBox | None = None

    def _session(self) -> BaseMailBox:
        if self._mailbox is None:
            self._mailbox = connect(self.server)
        return self._mailbox

    def _command(self, name: str, *args: Any) -> list[Any]:
        """One UID command; a lost connection is closed and reported as MailboxUnavailable."""
        try:
            status, data = self._session().client.uid(name, *args)
        except CONNECTION_ERRORS as exc:
            self.close()
            raise MailboxUnavailable(f"IMAP {self.server.name}: {_reason(exc)}") from exc
        if status != "OK":
            self.close()
            raise MailboxUnavailable(f"IMAP {self.server.name}: UID {name} answered {status}: {data!r:.200}")
        return list(data)

    def _uidvalidity(self) -> str:
        try:
            status = self._session().folder.status(self.server.folder, ["UIDVALIDITY"])
        except CONNECTION_ERRORS as exc:
            self.close()
            raise MailboxUnavailable(f"IMAP {self.server.name}: {_reason(exc)}") from exc
        return str(status["UIDVALIDITY"])

    def _uids_after(self, after: Position | None) -> tuple[str, list[int]]:
        epoch = self._uidvalidity()
        last = int(after.position) if after and after.epoch == epoch and after.position else 0
        data = self._command("SEARCH", f"UID {last + 1}:*")
        uids = sorted(int(uid) for uid in b" ".join(part for part in data if part).split())
        return epoch, [uid for uid in uids if uid > last]  # "N:*" always matches the highest UID

    def pending(self, after: Position | None) -> int:
        return len(self._uids_after(after)[1])

    def fetch(self, after: Position | None) -> Iterator[FetchedEmail]:
        epoch, uids = self._uids_after(after)
        for uid in uids:
            raw = _body(self._command("FETCH", str(uid), "(BODY.PEEK[])"))
            if raw is None:  # expunged meanwhile
                continue
            yield FetchedEmail(raw=raw, at=Position(epoch=epoch, position=str(uid)),
                               source=f"{self.name};UID={uid}")

    def done(self, email: FetchedEmail) -> None:
        uid = email.at.position
        assert uid is not None
        if self.after is AfterProcessing.SEEN:
            self._command("STORE", uid, "+FLAGS.SILENT", r"(\Seen)")
        elif self.after is AfterProcessing.MOVE:
            assert self.move_to is not None
            try:
                self._session().move(uid, self.move_to)
            except CONNECTION_ERRORS as exc:
                self.close()
                raise MailboxUnavailable(f"IMAP {self.server.name}: move to {self.move_to}: {_reason(exc)}") from exc

    def wait(self, seconds: float) -> None:
        """IDLE when the server offers it (and --poll was not asked for); otherwise sleep."""
        session = self._session()
        if self.poll is not None or "IDLE" not in session.client.capabilities:
            time.sleep(seconds)
            return
        try:
            session.idle.wait(timeout=min(seconds, IDLE_RENEW))
        except CONNECTION_ERRORS as exc:
            self.close()
            raise MailboxUnavailable(f"IMAP {self.server.name}: {_reason(exc)}") from exc

    def close(self) -> None:
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is None:
            return
        try:
            mailbox.client.shutdown()
        except (OSError, imaplib.IMAP4.error):
            pass


def _body(data: list[Any]) -> bytes | None:
    for part in data:
        if isinstance(part, tuple) and len(part) == 2 and b"BODY[]" in part[0]:
            return bytes(part[1])
    return None


class SentFolder:
    """The Sent folder of the IMAP account: looked up by Message-ID before an email is sent again,
    and (``append``) given a copy of each email sent, for servers that do not file it themselves."""

    def __init__(self, server: MailServer, folder: str, append: bool):
        self.server = server
        self.folder = folder
        self.append = append

    def holds(self, message_id: str) -> bool:
        with _closing(connect(self.server, self.folder)) as mailbox:
            try:
                status, data = mailbox.client.uid("SEARCH", "HEADER", "Message-ID",
                                                  _quoted(f"<{message_id}>"))
            except CONNECTION_ERRORS as exc:
                raise MailboxUnavailable(f"IMAP {self.server.name}: search {self.folder}: {_reason(exc)}") from exc
            return status == "OK" and any(part and part.split() for part in data)

    def file(self, raw: bytes) -> None:
        if not self.append:
            return
        with _closing(connect(self.server, self.folder)) as mailbox:
            try:
                mailbox.append(raw, self.folder, flag_set=[r"\Seen"])
            except CONNECTION_ERRORS as exc:
                raise MailboxUnavailable(f"IMAP {self.server.name}: append to {self.folder}: {_reason(exc)}") from exc


class _closing:
    def __init__(self, mailbox: BaseMailBox):
        self.mailbox = mailbox

    def __enter__(self) -> BaseMailBox:
        return self.mailbox

    def __exit__(self, *exc: object) -> None:
        try:
            self.mailbox.logout()
        except CONNECTION_ERRORS:
            pass


_UNSAFE = re.compile(r'["\\\r\n]')


def _quoted(text: str) -> str:
    return '"' + _UNSAFE.sub("", text) + '"'
