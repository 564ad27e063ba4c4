"""Parsed, indexable facts of an X.509 certificate (SPEC §1: the fields a certificate is listed by).

Also the small naming helpers the other pki modules share: how a certificate is named in a message
(``describe_certificate``), what its key is called (``key_algorithm_name``) and whether it is self-signed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InternalError, InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import InvalidInput, Unsupported
from certrepo.pki.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    certificate_public_key,
    sm2_certificate_signature_verifies,
)

__all__ = [
    "CertificateFacts",
    "authority_key_id",
    "basic_constraints",
    "certificate_facts",
    "certificate_key_algorithm",
    "describe_certificate",
    "is_ca",
    "is_issued_by",
    "is_self_signed",
    "key_algorithm_name",
    "signature_algorithm_name",
    "signature_hash_name",
    "subject_key_id",
]

# Curve name (as cryptography spells it) -> (product name prefix, key size in bits).
_EC_CURVES: dict[str, tuple[str, int]] = {
    "secp256r1": ("ECC_256", 256),
    "secp384r1": ("ECC_384", 384),
    "secp521r1": ("ECC_521", 521),
}
# GB/T 32918 SM2 curve. cryptography cannot load SM2 keys, so certificates carrying one are recognised
# from their SubjectPublicKeyInfo (pki/sm2.py loads the key and checks its signatures).
_SM2_CURVE_OID = "1.2.156.10197.1.301"
_SM3_WITH_SM2_OID = "1.2.156.10197.1.501"


def _oids_named(prefix: str) -> frozenset[x509.ObjectIdentifier]:
    return frozenset(
        getattr(SignatureAlgorithmOID, name) for name in dir(SignatureAlgorithmOID) if name.startswith(prefix)
    )


_RSA_PKCS1_OIDS = _oids_named("RSA_WITH_")
_ECDSA_OIDS = _oids_named("ECDSA_WITH_")
_DSA_OIDS = _oids_named("DSA_WITH_")

_SAN_TYPES: tuple[tuple[type[x509.GeneralName], str], ...] = (
    (x509.DNSName, "dns"),
    (x509.RFC822Name, "email"),
    (x509.UniformResourceIdentifier, "uri"),
    (x509.IPAddress, "ip"),
)


@dataclass(frozen=True)
class CertificateFacts:
    """The parsed fields of a certificate that the repository stores and indexes."""

    common_name: str | None
    sans: tuple[tuple[str, str], ...]
    subject: str
    issuer: str
    issuer_common_name: str | None
    serial_number: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: KeyAlgorithm | None
    key_algorithm_name: str
    key_size: int
    signature_algorithm: str
    fingerprint_sha1: str
    fingerprint_sha256: str
    is_ca: bool
    is_self_signed: bool
    subject_key_identifier: str | None


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    """Extract the indexed facts of ``cert``. Raises InvalidInput if its key algorithm is unknown."""
    key_name, key_size = certificate_key_algorithm(cert)
    try:
        key_algorithm: KeyAlgorithm | None = KeyAlgorithm(key_name)
    except ValueError:  # e.g. RSA_1024: storable as an uploaded certificate, not a product algorithm
        key_algorithm = None
    return CertificateFacts(
        common_name=_common_name(cert.subject),
        sans=_sans(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_common_name(cert.issuer),
        serial_number=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_algorithm=key_algorithm,
        key_algorithm_name=key_name,
        key_size=key_size,
        signature_algorithm=signature_algorithm_name(cert),
        fingerprint_sha1=cert.fingerprint(hashes.SHA1()).hex(),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca(cert),
        is_self_signed=is_self_signed(cert),
        subject_key_identifier=_hex(subject_key_id(cert)),
    )


def describe_certificate(cert: x509.Certificate) -> str:
    """Short name of a certificate for messages: ``CN=leaf``, else its subject, else its serial."""
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        return x509.Name([common_names[0]]).rfc4514_string()
    subject = cert.subject.rfc4514_string()
    return subject or f"serial {cert.serial_number:x}"


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when the certificate names itself as issuer and its signature verifies with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except ValueError:
        # cryptography refuses SHA-1/MD5 signatures outright; many roots in service are SHA-1 self-signed,
        # so let pyhanko's signature check (which still verifies legacy digests) decide.
        return _legacy_self_signature_verifies(cert)
    except (UnsupportedAlgorithm, TypeError):
        # A key type cryptography cannot verify with: SM2 is checked by pki/sm2.py, others are not provable.
        return _sm2_self_signature_verifies(cert)
    except (InvalidSignature, InternalError):
        return False
    return True


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s subject is ``cert``'s issuer and its key verifies ``cert``'s signature (SM2 too).

    Raises Unsupported for an SM2 signature without gmssl-pyx.
    """
    try:
        cert.verify_directly_issued_by(issuer)
    except (UnsupportedAlgorithm, TypeError):
        if cert.issuer != issuer.subject:
            return False
        try:
            issuer_key = certificate_public_key(issuer)
        except (Unsupported, InvalidInput):
            return False
        return sm2_certificate_signature_verifies(cert, issuer_key)
    except (InvalidSignature, ValueError, InternalError):
        return False
    return True


def key_algorithm_name(public_key: object) -> tuple[str, int]:
    """Product name (``RSA_2048``, ``ECC_256``, ``ED25519``, ``SM2_256``, ``RSA_1024``) and size of a key.

    Raises InvalidInput naming the algorithm for key types certrepo does not handle (DSA, Ed448, other
    curves). Accepts private or public keys.
    """
    if isinstance(public_key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA_{public_key.key_size}", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve not in _EC_CURVES:
            raise InvalidInput(f"EC curve {curve} is not supported (use P-256, P-384 or P-521)")
        return _EC_CURVES[curve]
    if isinstance(public_key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519.value, 256
    if isinstance(public_key, SM2PrivateKey | SM2PublicKey):
        return KeyAlgorithm.SM2_256.value, 256
    if isinstance(public_key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        raise InvalidInput("key algorithm Ed448 is not supported")
    raise InvalidInput(f"key algorithm {_class_label(public_key)} is not supported")


def certificate_key_algorithm(cert: x509.Certificate) -> tuple[str, int]:
    """Key algorithm name and size of a certificate's public key, SM2 included (``SM2_256``).

    Raises InvalidInput naming the algorithm when it is not one certrepo knows.
    """
    try:
        public_key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return _key_algorithm_from_spki(cert)
    return key_algorithm_name(public_key)


def signature_algorithm_name(cert: x509.Certificate) -> str:
    """Readable signature algorithm: ``SHA256withRSA``, ``SHA256withRSA/PSS``, ``SHA256withECDSA``..."""
    oid = cert.signature_algorithm_oid
    if oid == SignatureAlgorithmOID.ED25519:
        return "Ed25519"
    if oid == SignatureAlgorithmOID.ED448:
        return "Ed448"
    if oid.dotted_string == _SM3_WITH_SM2_OID:
        return "SM3withSM2"
    family = _signature_family(oid)
    if family is None:
        return oid.dotted_string
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return oid.dotted_string
    digest_name = digest.name.upper() if digest is not None else "NONE"
    return f"{digest_name}with{family}"


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    """The basicConstraints extension of ``cert``, or None."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """basicConstraints CA:TRUE."""
    constraints = basic_constraints(cert)
    return constraints is not None and constraints.ca


def authority_key_id(cert: x509.Certificate) -> bytes | None:
    """keyIdentifier of the authorityKeyIdentifier extension, or None."""
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def subject_key_id(cert: x509.Certificate) -> bytes | None:
    """The subjectKeyIdentifier, or None."""
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def signature_hash_name(cert: x509.Certificate) -> str | None:
    """Digest of the certificate's signature as cryptography names it (``sha256``), None for EdDSA/unknown."""
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return digest.name if digest is not None else None


# --- helpers -----------------------------------------------------------------------------------------


def _signature_family(oid: x509.ObjectIdentifier) -> str | None:
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        return "RSA/PSS"
    for members, family in ((_RSA_PKCS1_OIDS, "RSA"), (_ECDSA_OIDS, "ECDSA"), (_DSA_OIDS, "DSA")):
        if oid in members:
            return family
    return None


def _key_algorithm_from_spki(cert: x509.Certificate) -> tuple[str, int]:
    algorithm_oid = cert.public_key_algorithm_oid.dotted_string  # readable even when the key is not
    try:
        parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
        algorithm = parsed["tbs_certificate"]["subject_public_key_info"]["algorithm"]
        is_ec = algorithm["algorithm"].native == "ec"
        curve = algorithm["parameters"].chosen if is_ec else None
        curve_oid = curve.dotted if isinstance(curve, asn1_core.ObjectIdentifier) else None
    except (ValueError, TypeError, KeyError):
        curve_oid = None
    if curve_oid == _SM2_CURVE_OID:
        return KeyAlgorithm.SM2_256.value, 256
    if curve_oid is not None:
        raise InvalidInput(f"EC curve {curve_oid} is not supported (use P-256, P-384 or P-521)")
    raise InvalidInput(f"key algorithm {algorithm_oid} is not supported")


def _sm2_self_signature_verifies(cert: x509.Certificate) -> bool:
    try:
        own_key = certificate_public_key(cert)
    except (Unsupported, InvalidInput):
        return False
    return sm2_certificate_signature_verifies(cert, own_key)


def _legacy_self_signature_verifies(cert: x509.Certificate) -> bool:
    try:
        parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
        DefaultSignatureValidator().validate_signature(
            signature=parsed["signature_value"].native,
            signed_data=parsed["tbs_certificate"].dump(),
            public_key_info=parsed.public_key,
            signature_algorithm=parsed["signature_algorithm"],
        )
    except (
        InvalidSignature,
        ValueError,
        TypeError,
        KeyError,
        AssertionError,
        UnsupportedAlgorithm,
        InternalError,
    ):
        return False
    return True


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _sans(cert: x509.Certificate) -> tuple[tuple[str, str], ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(_san_entry(name) for name in extension.value)


def _san_entry(name: x509.GeneralName) -> tuple[str, str]:
    for kind, label in _SAN_TYPES:
        if isinstance(name, kind):
            return label, str(name.value)
    if isinstance(name, x509.DirectoryName):
        return "other", name.value.rfc4514_string()
    if isinstance(name, x509.RegisteredID):
        return "other", name.value.dotted_string
    if isinstance(name, x509.OtherName):
        return "other", f"{name.type_id.dotted_string}:{name.value.hex()}"
    return "other", repr(name)


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def _class_label(key: object) -> str:
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")
