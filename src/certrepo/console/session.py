"""Console sessions: a signed cookie naming the user and an expiry, nothing stored server-side.

The token is ``v1.<payload>.<mac>`` where payload is ``<user id or 0>:<expires unix>:<nonce>`` in
base64url and mac is HMAC-SHA256 under a key the keystore derives from the master key, so every node
sharing the key file accepts the same cookie. A user id of 0 marks an anonymous session: the sign-in form
needs one so that it too carries a CSRF token. The principal is re-read on every request, so a role
change or a deleted user takes effect at once; the cookie only says who signed in and until when.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response

from certrepo.services.context import Services

__all__ = [
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Session",
    "clear_session_cookie",
    "decode_session",
    "encode_session",
    "new_session",
    "session_cookie",
    "session_key",
    "set_session_cookie",
]

SESSION_COOKIE = "certrepo_session"
SESSION_SECONDS = 8 * 3600  # one working day; then sign in again
_VERSION = "v1"
_KEY_LABEL = "console-session"


@runtime_checkable
class _KeyDeriving(Protocol):
    """The keystore capability the console needs (EnvelopeKeystore has it)."""

    def derive_key(self, label: str) -> bytes: ...


@dataclass(frozen=True)
class Session:
    """Who signed in (None before sign-in), until when, and a random nonce the CSRF token derives from."""

    user_id: int | None
    expires_at: int  # unix seconds
    nonce: str

    @property
    def is_signed_in(self) -> bool:
        return self.user_id is not None


def session_key(services: Services) -> bytes:
    """The HMAC key of console cookies and CSRF tokens. Raises TypeError for a keystore that cannot
    derive keys (a wiring mistake, found on the first request)."""
    keystore = services.keystore
    if not isinstance(keystore, _KeyDeriving):
        raise TypeError(f"{type(keystore).__name__} cannot derive keys; the console needs derive_key")
    return keystore.derive_key(_KEY_LABEL)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, b"session|" + payload.encode(), hashlib.sha256).digest())


def new_session(services: Services, user_id: int | None) -> Session:
    """A fresh session (a new nonce each time: signing in never reuses the anonymous session's)."""
    now = int(services.clock().timestamp())
    return Session(user_id, now + SESSION_SECONDS, services.random_bytes(16).hex())


def encode_session(key: bytes, session: Session) -> str:
    payload = _b64(f"{session.user_id or 0}:{session.expires_at}:{session.nonce}".encode())
    return f"{_VERSION}.{payload}.{_mac(key, payload)}"


def decode_session(key: bytes, token: str | None, *, now: datetime) -> Session | None:
    """The session a cookie names, or None when it is missing, altered, malformed or expired."""
    if not token:
        return None
    version, _, rest = token.partition(".")
    payload, _, mac = rest.partition(".")
    if version != _VERSION or not payload or not hmac.compare_digest(mac, _mac(key, payload)):
        return None
    try:
        user_text, expires_text, nonce = _unb64(payload).decode().split(":")
        user_id, expires_at = int(user_text), int(expires_text)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        return None
    if expires_at <= now.timestamp() or len(nonce) != 32:
        return None
    return Session(user_id or None, expires_at, nonce)


def set_session_cookie(response: Response, services: Services, key: bytes, session: Session) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site POST carries it), Secure on https."""
    response.set_cookie(
        SESSION_COOKIE,
        encode_session(key, session),
        max_age=SESSION_SECONDS,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=services.base_url.startswith("https://"),
    )


def clear_session_cookie(response: Response, services: Services) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=services.base_url.startswith("https://"),
    )


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)
