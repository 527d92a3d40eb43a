"""Real mail servers for the tests: Dovecot (IMAP) started on a loopback port with a throwaway
configuration, and an SMTP server (aiosmtpd) in the test process.

Dovecot comes from the Debian package ``dovecot-imapd`` (``.ci/run`` installs it). When it is
missing or cannot start here, the tests that need it are skipped with the reason — except in
CI (``CI`` set), where that is a failure: the real-server tier must run there.
"""

from __future__ import annotations

import email
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest

PASSWORD = "s3cret-for-tests"
USERS = 40
"""Accounts in the passwd-file (one per test)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip loudly, or fail in CI."""
    message = f"REAL-SERVER MAIL TESTS NOT RUN: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them: install dovecot-imapd, see .ci/run)")
    pytest.skip(message)


class Dovecot:
    """One Dovecot process: IMAP on 127.0.0.1, users in a passwd-file, Maildirs in a temporary folder."""

    def __init__(self, oauth2_tokeninfo_url: str | None = None):
        binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
        if binary is None:
            unavailable("dovecot is not installed (apt-get install -y dovecot-imapd)")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="case-agent-dovecot-"))
        self.root.chmod(0o755)  # the mail user below must reach its Maildir
        self.port = free_port()
        self.users_file = self.root / "users"
        # Every account is written before the start: Dovecot may miss a change to the file made
        # within the second it last read it.
        self.users_file.write_text("".join(f"support{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in range(1, USERS + 1)))
        self.mail = self.root / "mail"
        self.mail.mkdir()
        self.log = self.root / "dovecot.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._users = 0
        if os.geteuid() == 0:  # Dovecot refuses mail access as root
            owner = pwd.getpwnam("nobody")
            user, uid, gid = "nobody", owner.pw_uid, owner.pw_gid
            os.chown(self.mail, uid, gid)
        else:
            user = pwd.getpwuid(os.geteuid()).pw_name
            uid, gid = os.geteuid(), os.getegid()
        oauth = ""
        mechanisms = "plain login"
        if oauth2_tokeninfo_url:
            mechanisms += " xoauth2 oauthbearer"
            (self.root / "oauth2.conf").write_text(
                f"tokeninfo_url = {oauth2_tokeninfo_url}\nintrospection_mode = auth\n"
                f"username_attribute = username\nactive_attribute = active\nactive_value = true\n")
            oauth = (f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                     f"  args = {self.root / 'oauth2.conf'}\n}}\n")
        not_root = "" if os.geteuid() == 0 else (
            f"default_internal_user = {user}\ndefault_login_user = {user}\n"
            "service imap-login {\n  chroot =\n}\n")
        (self.root / "dovecot.conf").write_text(f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
first_valid_uid = 1
mail_location = maildir:{self.mail}/%u
{oauth}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Processed {{
    auto = subscribe
  }}
}}
{not_root}""")

    # --- process ---------------------------------------------------------------------------
    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                unavailable(f"dovecot exited at start: {output[-500:]} {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        unavailable(f"dovecot did not answer on port {self.port} within 15 s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-800:]
        except OSError:
            return ""

    # --- accounts and mail -------------------------------------------------------------------
    def new_user(self) -> str:
        """A fresh account (its own empty Maildir): one per test."""
        self._users += 1
        assert self._users <= USERS, "raise USERS in tests/mailservers.py"
        return f"support{self._users}"

    def url(self, user: str, folder: str = "INBOX") -> str:
        return f"imap://{user}:{PASSWORD}@127.0.0.1:{self.port}/{folder}"

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            status, data = client.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", data
        finally:
            client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> list[tuple[bytes, bytes]]:
        """(flags, raw) of every email in the folder."""
        client = self.client(user)
        try:
            client.select(folder, readonly=True)
            _status, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            result = []
            for part in data:
                if isinstance(part, tuple):
                    result.append((part[0], part[1]))
            return result
        finally:
            client.logout()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.raw)


@dataclass
class SmtpHandler:
    """Accepts mail; ``answers`` (consumed one per email) can refuse it first, e.g. '451 …' or '550 …'.
    ``file_in_sent``: like Gmail and Microsoft 365, file each accepted email in the account's Sent
    folder before answering 250."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    file_in_sent: Callable[[bytes], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            raw = bytes(envelope.original_content or envelope.content)  # type: ignore[attr-defined]
            if self.file_in_sent is not None:
                self.file_in_sent(raw)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw))  # type: ignore[attr-defined]
            return "250 2.0.0 OK: queued"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 with AUTH PLAIN/LOGIN (any user, the test password)."""

    def __init__(self, handler: SmtpHandler):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        def authenticate(server: object, session: object, envelope: object, mechanism: str,
                         auth_data: object) -> AuthResult:
            password = getattr(auth_data, "password", b"")
            return AuthResult(success=password in (PASSWORD, PASSWORD.encode()))

        self.handler = handler
        self.port = free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     auth_require_tls=False)

    def url(self) -> str:
        return f"smtp://agent:{PASSWORD}@127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
