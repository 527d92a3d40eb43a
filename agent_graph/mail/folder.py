"""The local connector: inbound mail is a folder of ``.eml`` files, sent mail is written to a folder.

For the demo, for tests, and for feeding the service from another program: files are read in
name order, so name them so that order is arrival order (a timestamp prefix does it).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from agent_graph.errors import ConfigurationError
from agent_graph.mail import FetchedEmail, MailboxUnavailable, Position


class FolderInbox:
    def __init__(self, path: Path, move_to: str | None = None):
        if not path.is_dir():
            raise ConfigurationError(f"--mailbox {path}: no such folder")
        self.path = path
        self.move_to = move_to
        self.name = f"folder:{path.resolve()}"

    def _after(self, after: Position | None) -> list[Path]:
        last = after.position if after is not None else None
        try:
            files = sorted(self.path.glob("*.eml"))
        except OSError as exc:
            raise MailboxUnavailable(f"cannot read {self.path}: {exc.strerror}") from exc
        return [file for file in files if last is None or file.name > last]

    def fetch(self, after: Position | None) -> Iterator[FetchedEmail]:
        for file in self._after(after):
            try:
                raw = file.read_bytes()
            except FileNotFoundError:  # taken away meanwhile
                continue
            except OSError as exc:
                raise MailboxUnavailable(f"cannot read {file}: {exc.strerror}") from exc
            yield FetchedEmail(raw=raw, at=Position(position=file.name), source=str(file))

    def pending(self, after: Position | None) -> int:
        return len(self._after(after))

    def done(self, email: FetchedEmail) -> None:
        if self.move_to is None:
            return
        target = self.path / self.move_to
        target.mkdir(exist_ok=True)
        source = Path(email.source)
        if source.exists():
            source.replace(target / source.name)

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        pass


class FolderSender:
    """Each delivered email becomes a file named after its Message-ID: sending is exactly once."""

    def __init__(self, path: Path):
        if not path.is_dir():
            raise ConfigurationError(f"--smtp {path}: no such folder")
        self.path = path
        self.name = f"folder:{path.resolve()}"

    def _file(self, message_id: str) -> Path:
        return self.path / (hashlib.sha256(message_id.encode()).hexdigest()[:32] + ".eml")

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str) -> None:
        target = self._file(message_id)
        partial = target.with_suffix(".part")
        partial.write_bytes(raw)
        os.replace(partial, target)

    def already_sent(self, message_id: str) -> bool | None:
        return self._file(message_id).exists()

    def close(self) -> None:
        pass
