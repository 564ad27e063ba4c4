"""The Sign/Verify/Encrypt/Decrypt try-out: which certificates and algorithms the panel offers, and
running one operation through services.operations (so it is counted and audited like an API call)."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, replace

from cryptography import x509

from certrepo.crypto.keys import public_key_of_certificate
from certrepo.crypto.registry import ENCRYPTION_ALGORITHMS, SIGNATURE_ALGORITHMS
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CertificateStatus
from certrepo.domain.errors import CertrepoError, MissingParameter
from certrepo.domain.paging import Page
from certrepo.domain.repository import Repository
from certrepo.services import operations
from certrepo.services.certificates import CertificateFilter, list_certificates

from .certificate_forms import KeyUse
from .web import ConsoleContext

__all__ = [
    "TRYOUT_CERTIFICATES",
    "TryoutPanel",
    "TryoutResult",
    "certificate_tryout",
    "fitting_algorithms",
    "run_key_use",
    "tryout_panel",
]

TRYOUT_CERTIFICATES = 200  # the selector lists the first ones; the certificate page offers any other


@dataclass(frozen=True)
class TryoutPanel:
    """What the panel shows: the certificates to choose from, the chosen one and the algorithms that fit
    its key. ``fixed``: on a certificate's own page there is nothing to choose."""

    certificates: tuple[Certificate, ...]
    selected: Certificate | None
    signature_algorithms: tuple[str, ...]
    encryption_algorithms: tuple[str, ...]
    fixed: bool = False


@dataclass(frozen=True)
class TryoutResult:
    operation: str
    algorithm: str
    identifier: str
    output_base64: str | None = None  # signature, ciphertext or plaintext
    plaintext_text: str | None = None  # decrypt: the plaintext when it is UTF-8 text
    valid: bool | None = None  # verify


@functools.lru_cache(maxsize=1024)
def fitting_algorithms(pem: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Signature and encryption algorithms whose key check accepts the certificate's key (the same
    check the operation makes, so the list never offers what would be refused as AlgorithmMismatch)."""
    try:
        key = public_key_of_certificate(x509.load_pem_x509_certificate(pem.encode()))
    except (CertrepoError, ValueError):
        return (), ()

    def fits(algorithm: object) -> bool:
        try:
            algorithm.check_key(key)  # type: ignore[attr-defined]
        except CertrepoError:
            return False
        return True

    return (
        tuple(name for name, a in SIGNATURE_ALGORITHMS.items() if fits(a)),
        tuple(name for name, a in ENCRYPTION_ALGORITHMS.items() if fits(a)),
    )


def _panel(
    certificates: tuple[Certificate, ...], selected: Certificate | None, *, fixed: bool = False
) -> TryoutPanel:
    signing, encryption = fitting_algorithms(selected.pem) if selected else ((), ())
    return TryoutPanel(certificates, selected, signing, encryption, fixed)


async def tryout_panel(
    ctx: ConsoleContext, repository: Repository, *, selected: str | None = None
) -> TryoutPanel:
    """The panel of a repository page; ``selected`` preselects a certificate (else the first one that
    can sign: it holds a key and is not revoked)."""
    assert repository.id is not None
    listed = await list_certificates(
        ctx.services, ctx.call, repository.id, page=Page(1, TRYOUT_CERTIFICATES), where=CertificateFilter()
    )
    items = tuple(listed.items)
    usable = [c for c in items if c.has_private_key and c.status is CertificateStatus.ISSUED]
    fallback = usable[0] if usable else (items[0] if items else None)
    chosen = next((c for c in items if c.identifier == selected), fallback)
    return _panel(items, chosen)


def certificate_tryout(certificate: Certificate) -> TryoutPanel:
    """The panel of a certificate's own page."""
    return _panel((certificate,), certificate, fixed=True)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


async def run_key_use(ctx: ConsoleContext, repository_id: int, use: KeyUse) -> TryoutResult:
    """Run the operation on a certificate of ``repository_id``. Raises what services.operations raise."""
    ref = operations.CertificateRef(identifier=use.identifier, repository_id=repository_id)
    done = TryoutResult(use.operation, use.algorithm, use.identifier)
    services, call = ctx.services, ctx.call
    if use.operation == "sign":
        signature = await operations.sign(
            services, call, ref, algorithm=use.algorithm, message=use.message, message_type=use.message_type
        )
        return replace(done, output_base64=base64.b64encode(signature).decode())
    if use.operation == "verify":
        if not use.signature:
            raise MissingParameter("paste the signature to verify (base64)", details={"field": "signature"})
        valid = await operations.verify(
            services,
            call,
            ref,
            algorithm=use.algorithm,
            message=use.message,
            message_type=use.message_type,
            signature=use.signature,
        )
        return replace(done, valid=valid)
    if use.operation == "encrypt":
        ciphertext = await operations.encrypt(
            services, call, ref, algorithm=use.algorithm, plaintext=use.message, message_type=use.message_type
        )
        return replace(done, output_base64=base64.b64encode(ciphertext).decode())
    plaintext = await operations.decrypt(services, call, ref, algorithm=use.algorithm, ciphertext=use.message)
    return replace(done, output_base64=base64.b64encode(plaintext).decode(), plaintext_text=_text(plaintext))
