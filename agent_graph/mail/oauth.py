"""OAuth 2.0 access tokens for XOAUTH2 (Microsoft 365 / Exchange Online, Gmail).

Microsoft 365: ``msal`` client credentials — a tenant, an application (client) id, and a secret
or a certificate, all from the environment. One long-lived msal application per process, its
token cache in memory (msal renews the token shortly before it expires). Any other provider: a
file holding a current access token (``CASE_AGENT_OAUTH_TOKEN_FILE``), refreshed by whatever
issues it; the file is read again for every connection. Tokens are never logged.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from agent_graph.errors import ConfigurationError
from agent_graph.mail import MailboxUnavailable

M365_SCOPE = "https://outlook.office365.com/.default"

_lock = threading.Lock()
_apps: dict[tuple[str, str, str], Any] = {}


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
    result = _application(tenant, client_id).acquire_token_for_client(
        scopes=[os.environ.get("CASE_AGENT_OAUTH_SCOPE", M365_SCOPE)])
    if "access_token" not in result:
        raise MailboxUnavailable(f"the identity platform refused the client credentials: "
                                 f"{result.get('error')}: {str(result.get('error_description', ''))[:300]}")
    return str(result["access_token"])


def _application(tenant: str, client_id: str) -> Any:
    import msal  # type: ignore[import-untyped]

    authority = os.environ.get("CASE_AGENT_OAUTH_AUTHORITY", "")
    with _lock:
        if (tenant, client_id, authority) not in _apps:
            secret = os.environ.get("CASE_AGENT_OAUTH_CLIENT_SECRET")
            certificate = os.environ.get("CASE_AGENT_OAUTH_CERTIFICATE_FILE")
            credential: Any
            if secret:
                credential = secret
            elif certificate:
                credential = {"private_key": Path(certificate).read_text(encoding="utf-8"),
                              "thumbprint": os.environ.get("CASE_AGENT_OAUTH_CERTIFICATE_THUMBPRINT", "")}
            else:
                raise ConfigurationError("auth=xoauth2 with msal needs CASE_AGENT_OAUTH_CLIENT_SECRET or "
                                         "CASE_AGENT_OAUTH_CERTIFICATE_FILE")
            # Another authority (a national cloud, a test identity provider) is taken as given.
            _apps[(tenant, client_id, authority)] = msal.ConfidentialClientApplication(
                client_id, authority=authority or f"https://login.microsoftonline.com/{tenant}",
                client_credential=credential, token_cache=msal.TokenCache(),
                instance_discovery=False if authority else None)
        return _apps[(tenant, client_id, authority)]


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
