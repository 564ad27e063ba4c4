"""PKCS#10 certificate signing requests: load one safely and read what issuance needs from it.

A CSR is untrusted input: it is size-limited, must parse as PEM or DER, and its self-signature must
verify (proof that the requester holds the private key) before anything else is read from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from certrepo.domain.errors import InvalidInput, Unsupported
from certrepo.pki.issue import San, san_from_general_name
from certrepo.pki.keygen import PublicKey, key_family

__all__ = ["MAX_CSR_BYTES", "CsrFacts", "csr_facts", "load_csr"]

MAX_CSR_BYTES = 64 * 1024  # a CSR with a 16384-bit RSA key and 1000 SANs stays well below this

_PEM_MARKER = b"-----BEGIN"


@dataclass(frozen=True)
class CsrFacts:
    """What issuance takes from a verified CSR: its key, requested subject and SANs, key family."""

    public_key: PublicKey
    subject: x509.Name
    sans: tuple[San, ...]
    key_family: str  # RSA, EC or ED25519: the values of KeyAlgorithm.family


def load_csr(pem_or_der: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER PKCS#10 request and verify its signature.

    Raises InvalidInput (too large, not a CSR, signature does not verify), Unsupported (its key or
    signature algorithm is not one cryptography handles).
    """
    data = pem_or_der.encode("ascii", errors="replace") if isinstance(pem_or_der, str) else pem_or_der
    if len(data) > MAX_CSR_BYTES:
        raise InvalidInput(f"the CSR has {len(data)} bytes, at most {MAX_CSR_BYTES} are accepted")
    try:
        if _PEM_MARKER in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError:
        raise InvalidInput("the CSR is not a PEM or DER PKCS#10 certificate request") from None
    try:
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        raise Unsupported("the CSR uses a key or signature algorithm that is not supported") from None
    except ValueError:
        raise InvalidInput(
            "the CSR's signature cannot be checked: its key or signature is malformed"
        ) from None
    if not valid:
        raise InvalidInput("the CSR's signature does not verify")
    return csr


def csr_facts(csr: x509.CertificateSigningRequest) -> CsrFacts:
    """The key, subject, SANs and key family of a CSR loaded by ``load_csr``.

    Raises Unsupported (key type), InvalidInput (malformed extensions, a SAN type other than dns,
    email, uri or ip).
    """
    try:
        public_key = csr.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise Unsupported("the CSR's key type is not supported (RSA, EC or Ed25519 only)") from None
    family = key_family(public_key)
    return CsrFacts(
        public_key=public_key,  # type: ignore[arg-type]  # key_family has refused every other type
        subject=csr.subject,
        sans=_requested_sans(csr),
        key_family=family,
    )


def _requested_sans(csr: x509.CertificateSigningRequest) -> tuple[San, ...]:
    try:
        extension = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except ValueError:
        # Duplicate or undecodable extensions in the request's extensionRequest attribute.
        raise InvalidInput("the CSR's requested extensions are malformed") from None
    sans: list[San] = []
    for number, name in enumerate(extension.value, start=1):
        san = san_from_general_name(name)
        if san is None:
            raise InvalidInput(
                f"SAN {number} of the CSR is a {type(name).__name__}: only dns, email, uri and ip are issued"
            )
        sans.append(san)
    return tuple(sans)
