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
import signal
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
                f"tokeninfo_url = {oauth2_tokeninfo_url}\nusername_attribute = username\n"
                f"active_attribute = active\nactive_value = true\n")
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
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
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
        """Stop the server and every process it started: open IMAP sessions end too, as in a real restart."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # children the master left behind
            except ProcessLookupError:
                pass
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

    def appender(self, user: str, folder: str) -> Callable[[bytes], None]:
        """Append to a folder over one connection kept open (as a mail server filing its own mail)."""
        client = self.client(user)

        def append(raw: bytes) -> None:
            status, data = client.append(folder, r"(\Seen)", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", data

        return append

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
    after_accept: Callable[[int], None] | None = None
    """Called with the number of emails accepted so far, before the 250 answer goes back."""
    bearer_accounts: dict[str, str] = field(default_factory=dict)
    """For AUTH XOAUTH2: valid access token -> the account it opens (TokenService.tokens)."""
    xoauth2_logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def auth_XOAUTH2(self, server: object, args: list[str]) -> object:
        """SASL XOAUTH2 as Gmail and Microsoft 365 take it: ``user=…^Aauth=Bearer TOKEN^A^A`` in base64."""
        import base64

        from aiosmtpd.smtp import AuthResult

        try:
            fields = dict(part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if part)
        except (IndexError, ValueError):
            return AuthResult(success=False)
        token = fields.get("auth", "").removeprefix("Bearer ")
        if self.bearer_accounts.get(token) != fields.get("user"):
            return AuthResult(success=False)
        self.xoauth2_logins.append(fields["user"])
        return AuthResult(success=True)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            raw = bytes(envelope.original_content or envelope.content)  # type: ignore[attr-defined]
            if self.file_in_sent is not None:
                self.file_in_sent(raw)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw))  # type: ignore[attr-defined]
            if self.after_accept is not None:
                self.after_accept(len(self.received))
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


class TokenService:
    """A local OAuth 2.0 identity provider, just enough for the XOAUTH2 tests:

    - ``tokeninfo`` over HTTP, which Dovecot's ``oauth2`` passdb asks whether a bearer token is valid;
    - over HTTPS (a self-signed certificate, trusted through ``REQUESTS_CA_BUNDLE``), an authority
      msal's client-credentials flow talks to: OpenID discovery and a token endpoint that issues a
      token for a client id and secret it knows."""

    def __init__(self, root: Path):
        import json
        import secrets
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.tokens: dict[str, str] = {}
        """Valid access token -> the account it opens."""
        self.clients: dict[tuple[str, str], str] = {}
        """(client id, secret) -> the account its tokens open."""
        self.issued = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/tokeninfo":
                    token = parse_qs(url.query).get("access_token", [""])[0]
                    if token in service.tokens:
                        return self._answer(200, {"username": service.tokens[token], "active": "true"})
                    return self._answer(401, {"error": "invalid_token"})
                if url.path.endswith("/.well-known/openid-configuration"):
                    tenant = url.path.strip("/").split("/")[0]
                    base = f"https://127.0.0.1:{service.https_port}/{tenant}"
                    return self._answer(200, {"issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
                                              "authorization_endpoint": f"{base}/oauth2/v2.0/authorize"})
                return self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                account = service.clients.get((form.get("client_id", ""), form.get("client_secret", "")))
                if not self.path.endswith("/token") or form.get("grant_type") != "client_credentials" or not account:
                    return self._answer(401, {"error": "invalid_client", "error_description": "unknown client"})
                token = secrets.token_urlsafe(24)
                service.tokens[token] = account
                service.issued += 1
                return self._answer(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token})

        self.cert = root / "idp.pem"
        self.cert.write_bytes(_self_signed_certificate())
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert)
        self.https.socket = context.wrap_socket(self.https.socket, server_side=True)
        self.http_port = self.http.server_address[1]
        self.https_port = self.https.server_address[1]
        for server in (self.http, self.https):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def tokeninfo_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/tokeninfo?access_token="

    def authority(self, tenant: str) -> str:
        return f"https://127.0.0.1:{self.https_port}/{tenant}"

    def close(self) -> None:
        for server in (self.http, self.https):
            server.shutdown()
            server.server_close()


def _self_signed_certificate() -> bytes:
    """A key and certificate for 127.0.0.1, valid for a day, as PEM (``cryptography`` comes with msal)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + certificate.public_bytes(serialization.Encoding.PEM))
