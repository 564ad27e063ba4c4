"""PKCS#10 certificate signing requests: load one safely and read what issuance needs from it.

A CSR is untrusted input: it is size-limited, must parse as PEM or DER, and its self-signature must
verify (proof that the requester holds the private key) before anything else is read from it. SM2
requests (SM3withSM2, as ``openssl req -sm3 -sigopt distid:1234567812345678`` makes them) are checked by
``pki/sm2.py``, with the default distinguishing ID unless the caller names the one the requester used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from certrepo.domain.errors import InvalidInput, Unsupported
from certrepo.pki.issue import San, san_from_general_name
from certrepo.pki.keygen import PublicKey, key_family
from certrepo.pki.sm2 import DEFAULT_DISTINGUISHING_ID, csr_public_key, csr_signature_verifies

__all__ = ["MAX_CSR_BYTES", "CsrFacts", "csr_facts", "load_csr"]

MAX_CSR_BYTES = 64 * 1024  # a CSR with a 16384-bit RSA key and 1000 SANs stays well below this

_PEM_MARKER = b"-----BEGIN"


@dataclass(frozen=True)
class CsrFacts:
    """What issuance takes from a verified CSR: its key, requested subject and SANs, key family."""

    public_key: PublicKey
    subject: x509.Name
    sans: tuple[San, ...]
    key_family: str  # RSA, EC, ED25519 or SM2: the values of KeyAlgorithm.family


def load_csr(
    pem_or_der: str | bytes, *, sm2_distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID
) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER PKCS#10 request and verify its signature (SM3withSM2 with
    ``sm2_distinguishing_id`` for an SM2 key).

    Raises InvalidInput (too large, not a CSR, signature does not verify), Unsupported (its key or
    signature algorithm is not one cryptography or the SM2 glue handles; SM2 without gmssl-pyx).
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
    except x509.InvalidVersion as exc:  # not a ValueError: it would escape as a server fault
        raise InvalidInput(
            f"the CSR has version {exc.parsed_version}: PKCS#10 defines only version 1 (encoded as 0)"
        ) from None
    try:
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        valid = _sm2_signature_valid(csr, sm2_distinguishing_id)
    except ValueError:
        raise InvalidInput(
            "the CSR's signature cannot be checked: its key or signature is malformed"
        ) from None
    if not valid:
        raise InvalidInput("the CSR's signature does not verify")
    return csr


def _sm2_signature_valid(csr: x509.CertificateSigningRequest, distinguishing_id: bytes) -> bool:
    try:
        csr_public_key(csr)
    except (Unsupported, InvalidInput, ValueError):
        raise Unsupported("the CSR uses a key or signature algorithm that is not supported") from None
    try:
        # Unsupported from here on means an SM2 request on an installation without gmssl-pyx: it says so.
        return csr_signature_verifies(csr, distinguishing_id=distinguishing_id)
    except (InvalidInput, ValueError):
        raise InvalidInput(
            "the CSR's signature cannot be checked: its key or signature is malformed"
        ) from None


def csr_facts(csr: x509.CertificateSigningRequest) -> CsrFacts:
    """The key, subject, SANs and key family of a CSR loaded by ``load_csr``.

    Raises Unsupported (key type), InvalidInput (malformed extensions, a SAN type other than dns,
    email, uri or ip).
    """
    try:
        public_key: object = csr.public_key()
    except UnsupportedAlgorithm:
        public_key = _sm2_key(csr)
    except ValueError:
        raise Unsupported("the CSR's key type is not supported (RSA, EC, Ed25519 or SM2 only)") from None
    family = key_family(public_key)
    with warnings.catch_warnings():
        # cryptography decodes names lazily and warns about attribute lengths outside RFC 5280 (an empty
        # CN, a 3-letter country): issuance refuses those values itself, naming the field.
        warnings.filterwarnings("ignore", message="Attribute's length", category=UserWarning)
        return CsrFacts(
            public_key=public_key,  # type: ignore[arg-type]  # key_family has refused every other type
            subject=_subject(csr),
            sans=_requested_sans(csr),
            key_family=family,
        )


def _subject(csr: x509.CertificateSigningRequest) -> x509.Name:
    try:
        return csr.subject
    except ValueError:
        # The signature verified, but the signed subject does not decode (a BMPString of odd length...).
        raise InvalidInput("the CSR's subject is malformed") from None


def _sm2_key(csr: x509.CertificateSigningRequest) -> PublicKey:
    try:
        return csr_public_key(csr)
    except (Unsupported, InvalidInput, ValueError):
        raise Unsupported("the CSR's key type is not supported (RSA, EC, Ed25519 or SM2 only)") from None


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
