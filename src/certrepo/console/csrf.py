"""CSRF protection: a per-session token, required on every state-changing request.

The token is an HMAC of the session's nonce under the session key, so it needs no storage and changes
with every sign-in. Forms carry it in a hidden ``csrf_token`` field (plain form posts work); htmx sends it
as the ``X-CSRF-Token`` header, set once on <body> with hx-headers. SameSite=Lax on the cookie is the
first line of defence; the token is the one that does not depend on the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request

from .session import Session

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "UNSAFE_METHODS",
    "csrf_token_for",
    "is_valid_csrf_token",
    "submitted_csrf_token",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token_for(key: bytes, session: Session) -> str:
    """The token every form of ``session`` must return."""
    digest = hmac.new(key, b"csrf|" + session.nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_valid_csrf_token(key: bytes, session: Session | None, submitted: str | None) -> bool:
    """True only for a live session and the token derived from it (constant-time comparison)."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), csrf_token_for(key, session).encode())


async def submitted_csrf_token(request: Request) -> str | None:
    """The header (htmx) or else the form field (plain form posts). Reading the form here caches it on
    the request, so the route reads the same parsed form."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
