"""The real notification transport: webhooks with httpx, mail with smtplib (in a worker thread).

Every failure becomes a ``TransportResult`` (status code or SMTP reply code, a short reason, whether a retry
may help); nothing here raises for a failed delivery, and no message carries a secret or a body.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx

from certrepo.services.notifications import EmailRequest, TransportResult, WebhookRequest

__all__ = ["HttpSmtpTransport"]

# Worth another try: the receiver is overloaded, restarting or rate limiting.
_RETRYABLE_HTTP = frozenset({408, 425, 429})


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class HttpSmtpTransport:
    """Webhooks are POSTed without following redirects (the configured URL is the endpoint); mail goes
    through the configured relay, with STARTTLS (certificate verified) when the channel asks for it."""

    def __init__(
        self,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        # Both seams are for tests (a mock HTTP transport, a private CA for the SMTP relay); by default
        # httpx's and the system's trust store verify the peers.
        self._http_transport = http_transport
        self._tls_context = tls_context

    async def post_webhook(self, request: WebhookRequest, *, timeout_seconds: float) -> TransportResult:
        """POST the signed body; 2xx is delivered, 408/425/429/5xx and network errors may be retried."""
        try:
            async with httpx.AsyncClient(
                timeout=timeout_seconds, follow_redirects=False, transport=self._http_transport
            ) as client:
                response = await client.post(request.url, content=request.body, headers=dict(request.headers))
        except httpx.HTTPError as exc:
            return TransportResult(False, error=_reason(exc), retryable=True)
        code = response.status_code
        if 200 <= code < 300:
            return TransportResult(True, status_code=code)
        return TransportResult(
            False, status_code=code, error=f"HTTP {code}", retryable=code in _RETRYABLE_HTTP or code >= 500
        )

    async def send_email(self, request: EmailRequest, *, timeout_seconds: float) -> TransportResult:
        """Send one plain-text mail; SMTP 4xx and connection failures may be retried, 5xx may not."""
        return await asyncio.to_thread(_send_email, request, timeout_seconds, self._tls_context)


def _message(request: EmailRequest) -> EmailMessage:
    config = request.config
    message = EmailMessage()
    message["Subject"] = request.subject
    message["From"] = config.from_address
    message["To"] = ", ".join(config.to_addresses)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2] or None)
    message.set_content(request.text)
    return message


def _send_email(request: EmailRequest, timeout_seconds: float, tls: ssl.SSLContext | None) -> TransportResult:
    config = request.config
    try:
        with smtplib.SMTP(config.host, config.port, timeout=timeout_seconds) as smtp:
            smtp.ehlo()
            if config.starttls:
                smtp.starttls(context=tls or ssl.create_default_context())
                smtp.ehlo()
            if config.username is not None and request.password is not None:
                smtp.login(config.username, request.password.reveal().decode())
            refused = smtp.send_message(_message(request))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        code = codes[0] if codes else None
        return TransportResult(
            False,
            status_code=code,
            error="every recipient was refused",
            retryable=code is not None and 400 <= code < 500,
        )
    except smtplib.SMTPResponseException as exc:
        return TransportResult(
            False,
            status_code=exc.smtp_code,
            error=f"SMTP {exc.smtp_code}",
            retryable=400 <= exc.smtp_code < 500,
        )
    except smtplib.SMTPNotSupportedError as exc:
        return TransportResult(False, error=_reason(exc), retryable=False)
    except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timeout, disconnected
        return TransportResult(False, error=_reason(exc), retryable=True)
    if refused:
        return TransportResult(True, status_code=250, error=f"{len(refused)} recipient(s) refused")
    return TransportResult(True, status_code=250)
