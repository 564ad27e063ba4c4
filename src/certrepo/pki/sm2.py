"""SM2 certificates (GM/T 0015): the glue between cryptography's x509, asn1crypto and gmssl-pyx.

cryptography parses an SM2 certificate or CSR (names, extensions, dates, fingerprints) but can neither load
its public key (it does not know the SM2 curve) nor check an SM3withSM2 signature. This module does both,
and signs: a TBSCertificate is built from asn1crypto structures (extensions encoded by cryptography)
and signed with gmssl-pyx; crl.py and ocsp.py sign their TBSCertList and ResponseData with
``signature_algorithm_identifier`` and ``sign_data``. It also plugs SM3withSM2 into
pyhanko-certvalidator (``SIGNATURE_VALIDATOR``), so that chains of SM2 certificates go through the same
RFC 5280 path validation as every other chain.

Every SM3withSM2 signature of a certificate, CSR, CRL or OCSP response uses the default distinguishing
ID ``1234567812345678`` (GM/T 0009 §10, GM/T 0015; what OpenSSL 3 and GmSSL use), unless a caller names
another. The SM2 key types and the signature primitive live in ``crypto/sm2.py``; without the optional
gmssl-pyx, operations on SM2 keys raise Unsupported and nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import TypeAlias

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from certrepo.crypto.sm2 import (
    DEFAULT_DISTINGUISHING_ID,
    SM2PrivateKey,
    SM2PublicKey,
    generate_sm2_private_key,
    load_sm2_private_key,
    sm2_keys_match,
    sm2_public_key_from_spki,
    sm2_sign,
    sm2_verify,
)
from certrepo.domain.errors import InvalidInput, Unsupported

__all__ = [
    "DEFAULT_DISTINGUISHING_ID",
    "SIGNATURE_VALIDATOR",
    "SM3_WITH_SM2_OID",
    "AnyPublicKey",
    "SM2PrivateKey",
    "SM2PublicKey",
    "SigningKey",
    "Sm2SignatureValidator",
    "authority_key_identifier_of_key",
    "certificate_public_key",
    "csr_public_key",
    "csr_signature_verifies",
    "generate_sm2_private_key",
    "is_sm2_key",
    "load_sm2_private_key",
    "sign_certificate",
    "sign_data",
    "signature_algorithm_identifier",
    "sm2_certificate_signature_verifies",
    "sm2_keys_match",
    "subject_key_identifier_of_key",
]

SM3_WITH_SM2_OID = "1.2.156.10197.1.501"  # GM/T 0006 sm2sign-with-sm3

AnyPublicKey: TypeAlias = CertificatePublicKeyTypes | SM2PublicKey
SigningKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | SM2PrivateKey
)

# RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (what cryptography's builders do).
_UTC_TIME_END = dt.datetime(2050, 1, 1, tzinfo=dt.UTC)
# asn1crypto's names of the signature algorithms cryptography's keys sign certificates with.
_ECDSA_ALGORITHMS = {"sha256": "sha256_ecdsa", "sha384": "sha384_ecdsa", "sha512": "sha512_ecdsa"}
_RSA_ALGORITHMS = {"sha256": "sha256_rsa", "sha384": "sha384_rsa", "sha512": "sha512_rsa"}


def is_sm2_key(key: object) -> bool:
    """Whether ``key`` is an SM2 key (public or private)."""
    return isinstance(key, SM2PublicKey | SM2PrivateKey)


# --- reading ------------------------------------------------------------------------------------------


def certificate_public_key(cert: x509.Certificate) -> AnyPublicKey:
    """The certificate's public key, SM2 included (read from its SubjectPublicKeyInfo).

    Raises Unsupported (a key type neither cryptography nor the SM2 glue loads), InvalidInput (an SM2
    point that is not on the curve).
    """
    try:
        return cert.public_key()
    except UnsupportedAlgorithm:
        parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        return sm2_public_key_from_spki(parsed["tbs_certificate"]["subject_public_key_info"].dump())


def sm2_certificate_signature_verifies(
    cert: x509.Certificate,
    issuer_public_key: object,
    *,
    distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID,
) -> bool:
    """Whether ``cert`` carries an SM3withSM2 signature that verifies under ``issuer_public_key``.

    False for any other signature algorithm or key type. Raises Unsupported without gmssl-pyx.
    """
    if cert.signature_algorithm_oid.dotted_string != SM3_WITH_SM2_OID:
        return False
    if not isinstance(issuer_public_key, SM2PublicKey):
        return False
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return sm2_verify(
        issuer_public_key,
        parsed["tbs_certificate"].dump(),
        parsed["signature_value"].native,
        distinguishing_id,
    )


def csr_public_key(csr: x509.CertificateSigningRequest) -> SM2PublicKey:
    """The SM2 key of a PKCS#10 request cryptography cannot load. Raises Unsupported (not SM2), InvalidInput."""
    info, _ = _asn1_csr_parts(csr)
    return sm2_public_key_from_spki(info["subject_pk_info"].dump())


def csr_signature_verifies(
    csr: x509.CertificateSigningRequest, *, distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID
) -> bool:
    """Whether an SM2 request's SM3withSM2 self-signature verifies (False for another algorithm).

    Raises Unsupported (its key is not SM2, or gmssl-pyx is missing), InvalidInput (malformed key).
    """
    key = csr_public_key(csr)
    if csr.signature_algorithm_oid.dotted_string != SM3_WITH_SM2_OID:
        return False
    info, signature = _asn1_csr_parts(csr)
    return sm2_verify(key, info.dump(), signature, distinguishing_id)


def _asn1_csr_parts(csr: x509.CertificateSigningRequest) -> tuple[asn1_csr.CertificationRequestInfo, bytes]:
    try:
        request = asn1_csr.CertificationRequest.load(csr.public_bytes(serialization.Encoding.DER))
        return request["certification_request_info"], bytes(request["signature"].native)
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("the CSR cannot be parsed") from None


# --- chain validation ---------------------------------------------------------------------------------


class Sm2SignatureValidator(DefaultSignatureValidator):
    """pyhanko-certvalidator's signature check, plus SM3withSM2 under SM2 keys (default distinguishing ID).

    Handed to every ``ValidationContext`` (``signature_validator=``), so that path building, pathLen,
    keyUsage and validity checks stay pyhanko's for SM2 chains too. An SM2 key with any other algorithm,
    or SM3withSM2 under a key that is not SM2, is an invalid signature. Without gmssl-pyx, Unsupported.
    """

    def __init__(self, distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID) -> None:
        self.distinguishing_id = distinguishing_id

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: asn1_keys.PublicKeyInfo,
        signature_algorithm: asn1_algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        """Return if the signature verifies. Raises InvalidSignature, Unsupported (no gmssl-pyx)."""
        key = _sm2_key_or_none(public_key_info)
        is_sm2_signature = signature_algorithm["algorithm"].dotted == SM3_WITH_SM2_OID
        if key is None and not is_sm2_signature:
            super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
            return
        if key is None or not is_sm2_signature:
            raise InvalidSignature(
                "SM3withSM2 signatures go with SM2 keys, and SM2 keys sign only SM3withSM2"
            )
        # A pre-hashed payload would be SM3(Z_A || M) already; certificates never come that way.
        if context.prehashed or not sm2_verify(key, signed_data, signature, self.distinguishing_id):
            raise InvalidSignature("the SM3withSM2 signature does not verify")


def _sm2_key_or_none(public_key_info: asn1_keys.PublicKeyInfo) -> SM2PublicKey | None:
    try:
        return sm2_public_key_from_spki(public_key_info.dump())
    except (Unsupported, InvalidInput):
        return None


SIGNATURE_VALIDATOR = Sm2SignatureValidator()


# --- signing ------------------------------------------------------------------------------------------


def signature_algorithm_identifier(
    key: SigningKey, hash_algorithm: hashes.HashAlgorithm | None = None
) -> asn1_algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier of what ``sign_data`` makes with ``key`` (and ``hash_algorithm``, for RSA
    and ECDSA). SM3withSM2 has no parameters, as OpenSSL and GmSSL write it. Raises Unsupported."""
    if isinstance(key, SM2PrivateKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": SM3_WITH_SM2_OID})
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": "ed25519"})
    digest = hash_algorithm.name if hash_algorithm is not None else ""
    if isinstance(key, rsa.RSAPrivateKey) and digest in _RSA_ALGORITHMS:
        # RFC 4055 §5: the sha*WithRSAEncryption identifiers carry an explicit NULL.
        return asn1_algos.SignedDigestAlgorithm(
            {"algorithm": _RSA_ALGORITHMS[digest], "parameters": asn1_core.Null()}
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and digest in _ECDSA_ALGORITHMS:
        return asn1_algos.SignedDigestAlgorithm({"algorithm": _ECDSA_ALGORITHMS[digest]})
    raise Unsupported(f"cannot sign with a {type(key).__name__} key and hash {digest or 'none'}")


def sign_data(key: SigningKey, data: bytes, hash_algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """Sign ``data`` as ``signature_algorithm_identifier(key, hash_algorithm)`` names it.

    SM2 signs SM3withSM2 with the default distinguishing ID. Raises Unsupported.
    """
    signature_algorithm_identifier(key, hash_algorithm)  # refuses what it cannot name
    if isinstance(key, SM2PrivateKey):
        return sm2_sign(key, data)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    assert hash_algorithm is not None
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hash_algorithm)
    return key.sign(data, ec.ECDSA(hash_algorithm))


def sign_certificate(
    *,
    issuer: x509.Name,
    subject: x509.Name,
    public_key: AnyPublicKey,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extensions: Sequence[x509.Extension[x509.ExtensionType]],
    signing_key: SigningKey,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    """A v3 certificate whose TBSCertificate is built with asn1crypto and signed by ``signing_key``.

    For certificates cryptography's builder cannot make: an SM2 subject key or an SM2 issuer key. The
    extensions are encoded by cryptography (their ``public_bytes``), so the profile is byte for byte
    the one of the builder. Raises Unsupported (a key that cannot sign), InvalidInput (a bad value).
    """
    algorithm = signature_algorithm_identifier(signing_key, hash_algorithm)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algorithm,
            "issuer": _asn1_name(issuer),
            "validity": {"not_before": _asn1_time(not_before), "not_after": _asn1_time(not_after)},
            "subject": _asn1_name(subject),
            "subject_public_key_info": asn1_keys.PublicKeyInfo.load(_spki_der(public_key)),
            "extensions": [_asn1_extension(extension) for extension in extensions],
        }
    )
    signature = sign_data(signing_key, tbs.dump(), hash_algorithm)
    certificate = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algorithm.copy(), "signature_value": signature}
    )
    return x509.load_der_x509_certificate(certificate.dump())


def subject_key_identifier_of_key(public_key: AnyPublicKey) -> x509.SubjectKeyIdentifier:
    """RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits, for SM2 keys too."""
    if isinstance(public_key, SM2PublicKey):
        # The BIT STRING's value is the uncompressed point 04 || x || y, as in the certificate.
        return x509.SubjectKeyIdentifier(hashlib.sha1(b"\x04" + public_key.point).digest())
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def authority_key_identifier_of_key(public_key: AnyPublicKey) -> x509.AuthorityKeyIdentifier:
    """The AKI naming ``public_key`` by its key identifier (method 1), for SM2 keys too."""
    ski = subject_key_identifier_of_key(public_key)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _asn1_name(name: x509.Name) -> asn1_x509.Name:
    """``name`` as an asn1crypto Name, with cryptography's encoding of every attribute."""
    return asn1_x509.Name.load(name.public_bytes())


def _asn1_time(moment: dt.datetime) -> asn1_x509.Time:
    """An X.509 Time: UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5)."""
    moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    if moment < _UTC_TIME_END:
        return asn1_x509.Time(name="utc_time", value=moment)
    return asn1_x509.Time(name="general_time", value=moment)


def _spki_der(public_key: AnyPublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _asn1_extension(extension: x509.Extension[x509.ExtensionType]) -> asn1_x509.Extension:
    value_der = extension.value.public_bytes()
    result = asn1_x509.Extension({"extn_id": extension.oid.dotted_string, "critical": extension.critical})
    spec = result.spec("extn_value")
    # asn1crypto parses the extensions it knows into their structures; others stay opaque octets.
    result["extn_value"] = (
        value_der if spec is asn1_core.ParsableOctetString else spec.load(value_der, strict=True)
    )
    return result
