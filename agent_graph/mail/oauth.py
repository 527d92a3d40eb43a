"""OAuth 2.0 access tokens for XOAUTH2 (Microsoft 365 / Exchange Online, Gmail).

Microsoft 365: ``msal`` client credentials — a tenant, an application (client) id, and a secret
or a certificate, all from the environment. One long-lived msal application per process
(``agent_graph.microsoft.confidential_client``), its token cache in memory (msal renews the
token shortly before it expires). Any other provider: a file holding a current access token (``CASE_AGENT_OAUTH_TOKEN_FILE``), refreshed by whatever
issues it; the file is read again for every connection. Tokens are never logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent_graph.errors import ConfigurationError
from agent_graph.mail import MailboxUnavailable
from agent_graph.microsoft import LOGIN_URL, MicrosoftUnavailable, confidential_client, token_for

M365_SCOPE = "https://outlook.office365.com/.default"


def access_token() -> str:
    """A current access token, from the token file or from msal client credentials."""
    token_file = os.environ.get("CASE_AGENT_OAUTH_TOKEN_FILE")
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"CASE_AGENT_OAUTH_TOKEN_FILE {token_file}: cannot read it: {exc.strerror}") from None
    tenant, client_id = os.environ.get("CASE_AGENT_OAUTH_TENANT"), os.environ.get("CASE_AGENT_OAUTH_CLIENT_ID")
    if not tenant or not client_id:
        raise ConfigurationError("auth=xoauth2 needs CASE_AGENT_OAUTH_TENANT and CASE_AGENT_OAUTH_CLIENT_ID (with "
                                 "CASE_AGENT_OAUTH_CLIENT_SECRET or CASE_AGENT_OAUTH_CERTIFICATE_FILE and "
                                 "CASE_AGENT_OAUTH_CERTIFICATE_THUMBPRINT), or CASE_AGENT_OAUTH_TOKEN_FILE")
    authority = os.environ.get("CASE_AGENT_OAUTH_AUTHORITY") or f"{LOGIN_URL}/{tenant}"
    try:
        return token_for(confidential_client(authority, client_id, _credential),
                         os.environ.get("CASE_AGENT_OAUTH_SCOPE", M365_SCOPE))
    except MicrosoftUnavailable as exc:
        raise MailboxUnavailable(str(exc)) from None


def _credential() -> Any:
    secret = os.environ.get("CASE_AGENT_OAUTH_CLIENT_SECRET")
    certificate = os.environ.get("CASE_AGENT_OAUTH_CERTIFICATE_FILE")
    if secret:
        return secret
    if certificate:
        return {"private_key": Path(certificate).read_text(encoding="utf-8"),
                "thumbprint": os.environ.get("CASE_AGENT_OAUTH_CERTIFICATE_THUMBPRINT", "")}
    raise ConfigurationError("auth=xoauth2 with msal needs CASE_AGENT_OAUTH_CLIENT_SECRET or "
                             "CASE_AGENT_OAUTH_CERTIFICATE_FILE")


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
