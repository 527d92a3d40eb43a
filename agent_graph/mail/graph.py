"""Microsoft Graph: an Exchange Online shared mailbox read and answered as the application.

``--mailbox graph://support@contoso.example`` (docs/microsoft.md):

- **Reading**: a delta query on the Inbox (``changeType=created``), every request with
  ``Prefer: IdType="ImmutableId"`` so that an id survives a move. The position is the delta
  link: the emails of one round carry the link the round started from, the last one the new
  link, so a crash in the middle reads the round again (Message-ID idempotency drops what was
  done). ``@odata.nextLink`` pages are followed as given. Each email's MIME (``/$value``) goes
  through the same intake as IMAP's. A delta link Graph no longer knows (410) starts over.
- **After processing**: keep, mark read (PATCH ``isRead``) or move (``move`` to a well-known
  folder name or a folder found by display name).
- **Sending**: ``sendMail`` with the stored MIME (base64), so the Message-ID, In-Reply-To and
  References the agent wrote are the ones the customer's client threads on, and the same on
  every retry. Before a retry, Sent Items is searched by ``internetMessageId``.
- At most 4 requests in flight per mailbox (Graph's limit per application and mailbox), shared
  by the reader and the sender; 429/503 ``Retry-After`` honoured (agent_graph.microsoft).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from agent_graph.errors import ConfigurationError, bounded
from agent_graph.mail import DeliveryDeferred, DeliveryRefused, FetchedEmail, MailboxUnavailable, Position
from agent_graph.microsoft import (
    Application,
    MicrosoftRefused,
    MicrosoftSettings,
    MicrosoftUnavailable,
    RestClient,
    slots_for,
)

log = logging.getLogger(__name__)

MAILBOX_CONCURRENCY = 4
"""Graph's Outlook limit: 4 concurrent requests per application and mailbox."""
PAGE_SIZE = 50
EPOCH = "graph-delta"
WELL_KNOWN_FOLDERS = frozenset({"inbox", "archive", "deleteditems", "drafts", "junkemail", "sentitems",
                                "outbox", "conversationhistory", "clutter", "msgfolderroot"})
IMMUTABLE_IDS = 'IdType="ImmutableId"'


class GraphEmail(FetchedEmail):
    graph_id: str
    """The message's immutable id in the mailbox (for marking or moving it)."""


class GraphMailbox:
    """One shared mailbox (``graph://ADDRESS``): the REST client both the reader and the sender use."""

    def __init__(self, url: str, settings: MicrosoftSettings | None = None, application: Application | None = None):
        address = url.removeprefix("graph://").strip("/")
        if "@" not in address or "/" in address or "?" in address:
            raise ConfigurationError(f"--mailbox {bounded(url, 80)}: write graph://MAILBOX@DOMAIN (the shared "
                                     "mailbox's address; it reads the Inbox)")
        self.address = address
        self.settings = settings or MicrosoftSettings.from_environment()
        self.name = f"graph://{address}"
        self.client = RestClient(application or Application(self.settings), self.settings.graph_url,
                                 self.settings.graph_scope, {"Accept": "application/json", "Prefer": IMMUTABLE_IDS},
                                 slots_for(f"{self.settings.graph_url}|{address.lower()}", MAILBOX_CONCURRENCY),
                                 f"Graph {address}")
        self.user = f"users/{quote(address)}"

    def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self.client.request("GET", path, **kwargs).json())


class GraphInbox:
    def __init__(self, mailbox: GraphMailbox, after: str = "keep", move_to: str | None = None,
                 poll: float | None = None):
        self.mailbox = mailbox
        self.after = after
        self.move_to = move_to
        self.poll = poll
        self.name = f"{mailbox.name}/inbox"
        self._round: tuple[str | None, str, list[str]] | None = None
        self._folder_id: str | None = None

    def _first_link(self) -> str:
        return (f"{self.mailbox.user}/mailFolders/inbox/messages/delta?changeType=created"
                f"&$select=id,internetMessageId,receivedDateTime")

    def _delta(self, after: Position | None) -> tuple[str | None, str, list[str]]:
        """(the link this round started from, the new delta link, the new message ids oldest first);
        kept until the next round, so ``pending`` and ``fetch`` ask Graph once."""
        start = after.position if after and after.epoch == EPOCH and after.position else None
        if self._round is not None and self._round[0] == start:
            return self._round
        link = start or self._first_link()
        found: list[tuple[str, str]] = []
        while True:
            try:
                page = self._page(link)
            except MicrosoftRefused as exc:
                if exc.status != 410 or link == self._first_link():  # 410: the delta link expired
                    raise MailboxUnavailable(str(exc)) from None
                log.warning("%s: the delta link expired; reading the Inbox again from the start", self.name)
                start, link, found = None, self._first_link(), []
                continue
            found += [(str(item.get("receivedDateTime") or ""), str(item["id"])) for item in page.get("value", [])
                      if "@removed" not in item]
            if "@odata.nextLink" in page:
                link = str(page["@odata.nextLink"])
            elif "@odata.deltaLink" in page:
                break
            else:
                raise MailboxUnavailable(f"{self.name}: a delta page without @odata.nextLink or @odata.deltaLink")
        ids = list(dict.fromkeys(graph_id for _, graph_id in sorted(found)))
        self._round = (start, str(page["@odata.deltaLink"]), ids)
        return self._round

    def _page(self, link: str) -> dict[str, Any]:
        try:
            return self.mailbox.get(link, headers={"Prefer": f'{IMMUTABLE_IDS}, odata.maxpagesize={PAGE_SIZE}'})
        except MicrosoftUnavailable as exc:
            raise MailboxUnavailable(str(exc)) from None

    def pending(self, after: Position | None) -> int:
        return len(self._delta(after)[2])

    def fetch(self, after: Position | None) -> Iterator[FetchedEmail]:
        start, delta_link, ids = self._delta(after)
        self._round = None
        for n, graph_id in enumerate(ids):
            try:
                raw = self.mailbox.client.request("GET", f"{self.mailbox.user}/messages/{graph_id}/$value").content
            except MicrosoftRefused as exc:
                if exc.status == 404:  # deleted meanwhile
                    continue
                raise MailboxUnavailable(str(exc)) from None
            except MicrosoftUnavailable as exc:
                raise MailboxUnavailable(str(exc)) from None
            last = n == len(ids) - 1
            yield GraphEmail(raw=raw, at=Position(epoch=EPOCH, position=delta_link if last else start),
                             source=f"{self.name};id={graph_id[-24:]}", graph_id=graph_id)

    def done(self, email: FetchedEmail) -> None:
        assert isinstance(email, GraphEmail)
        path = f"{self.mailbox.user}/messages/{email.graph_id}"
        try:
            if self.after == "seen":
                self.mailbox.client.request("PATCH", path, json={"isRead": True})
            elif self.after == "move":
                self.mailbox.client.request("POST", f"{path}/move", json={"destinationId": self._destination()},
                                            expect=(200, 201))
        except (MicrosoftUnavailable, MicrosoftRefused) as exc:
            raise MailboxUnavailable(str(exc)) from None

    def _destination(self) -> str:
        """A well-known folder name as it is; another name is looked up once among the top folders."""
        assert self.move_to is not None
        if self.move_to.lower() in WELL_KNOWN_FOLDERS:
            return self.move_to.lower()
        if self._folder_id is None:
            name = self.move_to.replace("'", "''")
            found = self.mailbox.get(f"{self.mailbox.user}/mailFolders?$filter=displayName eq '{name}'&$select=id")
            if not found.get("value"):
                raise MailboxUnavailable(f"{self.mailbox.name}: no folder named {self.move_to!r} to move processed "
                                         "mail to (create it, or use a well-known name such as archive)")
            self._folder_id = str(found["value"][0]["id"])
        return self._folder_id

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        self._round = None


class GraphSender:
    """Sends as the shared mailbox; Sent Items is where a crashed attempt is found again."""

    def __init__(self, mailbox: GraphMailbox):
        self.mailbox = mailbox
        self.name = mailbox.name

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str) -> None:
        try:
            self.mailbox.client.request("POST", f"{self.mailbox.user}/sendMail", data=base64.b64encode(raw),
                                        headers={"Content-Type": "text/plain"}, expect=(202,), repeatable=False)
        except MicrosoftUnavailable as exc:
            raise DeliveryDeferred(str(exc)) from None
        except MicrosoftRefused as exc:
            if exc.status in (401, 403, 404, 408, 409):  # permissions or the mailbox: the operator's to fix
                raise DeliveryDeferred(str(exc)) from None
            raise DeliveryRefused(str(exc)) from None

    def already_sent(self, message_id: str) -> bool | None:
        wanted = f"<{message_id.strip('<>')}>".replace("'", "''")
        try:
            found = self.mailbox.get(f"{self.mailbox.user}/mailFolders/sentitems/messages"
                                     f"?$filter=internetMessageId eq '{quote(wanted)}'&$select=id,internetMessageId")
        except (MicrosoftUnavailable, MicrosoftRefused) as exc:
            raise MailboxUnavailable(str(exc)) from None
        return bool(found.get("value"))

    def close(self) -> None:
        pass
