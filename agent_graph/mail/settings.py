"""Mail server settings from a URL: ``imap://USER:PASSWORD@HOST:PORT/FOLDER``, ``smtp://…``.

Secrets come from the URL, a file or the environment, never from the catalog; they are held as
``SecretStr`` so that no log line or error message shows them.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, SecretStr

from agent_graph.errors import ConfigurationError, bounded


class Security(StrEnum):
    PLAIN = "plain"
    """No encryption: only for a server on this machine (the tests' Dovecot)."""
    TLS = "tls"
    """TLS from the first byte (imaps://, smtps://)."""
    STARTTLS = "starttls"


class Auth(StrEnum):
    PASSWORD = "password"
    XOAUTH2 = "xoauth2"


class MailServer(BaseModel):
    """One server account, parsed from a URL. ``folder``: the IMAP folder (INBOX by default)."""

    host: str
    port: int
    security: Security
    user: str
    password: SecretStr | None = None
    folder: str = "INBOX"
    auth: Auth = Auth.PASSWORD

    @property
    def name(self) -> str:
        """The account without its secret, for logs and the store."""
        return f"{self.user}@{self.host}:{self.port}" if self.user else f"{self.host}:{self.port}"


_DEFAULT_PORTS = {("imap", Security.PLAIN): 143, ("imap", Security.STARTTLS): 143, ("imap", Security.TLS): 993,
                  ("smtp", Security.PLAIN): 25, ("smtp", Security.STARTTLS): 587, ("smtp", Security.TLS): 465}


def parse_server_url(option: str, url: str, protocol: str, password_env: str) -> MailServer:
    """``imap://`` or ``smtp://`` (``imaps://``/``smtps://`` for TLS; ``?starttls=true``;
    ``?auth=xoauth2``; ``?password_file=PATH``). A password missing from the URL is read from
    ``password_file`` or the environment variable ``password_env``. ``smtp://HOST:PORT`` without
    an account is a relay that needs no login."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in (protocol, protocol + "s"):
        raise ConfigurationError(f"{option}: the URL must start with {protocol}:// or {protocol}s:// "
                                 f"(got {bounded(scheme, 40)!r}), or name a folder")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "auth", "password_file"}
    if unknown:
        raise ConfigurationError(f"{option}: unknown URL parameter(s) {', '.join(sorted(unknown))}; "
                                 f"known: starttls, auth, password_file")
    security = Security.TLS if scheme.endswith("s") else Security.PLAIN
    if query.get("starttls", "").lower() in ("1", "true", "yes"):
        if security is Security.TLS:
            raise ConfigurationError(f"{option}: starttls is for {protocol}://, not {protocol}s://")
        security = Security.STARTTLS
    try:
        auth = Auth(query.get("auth", "password").lower())
    except ValueError:
        raise ConfigurationError(f"{option}: auth must be password or xoauth2") from None
    if not parts.hostname or (not parts.username and protocol == "imap"):
        raise ConfigurationError(f"{option}: give the account and server, as {protocol}://USER@HOST:PORT")
    try:
        port = parts.port or _DEFAULT_PORTS[(protocol, security)]
    except ValueError:
        raise ConfigurationError(f"{option}: the port is not a number") from None
    if not parts.username:  # an SMTP relay that takes mail from this host without a login
        return MailServer(host=parts.hostname, port=port, security=security, user="")
    password = unquote(parts.password) if parts.password else None
    if password is None and "password_file" in query:
        try:
            password = Path(query["password_file"]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{option}: cannot read password_file {query['password_file']}: "
                                     f"{exc.strerror}") from None
    if password is None:
        password = os.environ.get(password_env) or None
    if password is None and auth is Auth.PASSWORD:
        raise ConfigurationError(f"{option}: no password: put it in the URL, in ?password_file=PATH, "
                                 f"or in the environment variable {password_env}")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailServer(host=parts.hostname, port=port, security=security, user=unquote(parts.username),
                      password=SecretStr(password) if password else None, folder=folder, auth=auth)
