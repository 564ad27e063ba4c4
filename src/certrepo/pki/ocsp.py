"""The OCSP responder's pure part (RFC 6960): parse a request, sign a response as the CA itself.

The CA is its own responder (RFC 6960 §4.2.2.2, first case), so no delegated responder certificate is
needed and clients verify the response with the issuer they already hold. Responses answer by CertID
hash (the hash algorithm the client chose), so a serial the CA never issued gets a signed ``unknown``
without any certificate at hand. The caller looks the serial up and passes the status. An SM2 CA signs
the same response with SM3withSM2: asn1crypto assembles it and pki/sm2.py signs it (cryptography's
builder cannot sign with an SM2 key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import core as asn1_core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from certrepo.domain.enums import RevocationReason
from certrepo.domain.errors import InvalidInput, KeyMismatch
from certrepo.pki.crl import reason_flag
from certrepo.pki.issue import to_utc
from certrepo.pki.keygen import PrivateKey, signature_hash_for
from certrepo.pki.sm2 import SM2PrivateKey, certificate_public_key, sign_data, signature_algorithm_identifier

__all__ = [
    "MAX_NONCE_BYTES",
    "MAX_OCSP_REQUEST_BYTES",
    "OcspQuery",
    "OcspStatus",
    "build_ocsp_response",
    "ocsp_error_response",
    "ocsp_request_matches_ca",
    "parse_ocsp_request",
]

MAX_OCSP_REQUEST_BYTES = 64 * 1024
MAX_NONCE_BYTES = 32  # RFC 8954 §2.1: a responder should refuse longer nonces as malformed

_STATUS_KINDS = ("good", "revoked", "unknown")
_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}
_ERROR_STATUS = {
    "malformedRequest": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    "internalError": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    "tryLater": ocsp.OCSPResponseStatus.TRY_LATER,
    "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
}


@dataclass(frozen=True)
class OcspQuery:
    """The one certificate an OCSP request asks about (its CertID) and the request's nonce."""

    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


@dataclass(frozen=True)
class OcspStatus:
    """The answer for one serial: ``good``, ``revoked`` (with time and reason) or ``unknown``."""

    kind: str
    revoked_at: dt.datetime | None = None
    reason: RevocationReason | None = None

    def __post_init__(self) -> None:
        if self.kind not in _STATUS_KINDS:
            raise ValueError(f"OCSP status kind must be good, revoked or unknown, not {self.kind!r}")
        if (self.kind == "revoked") != (self.revoked_at is not None):
            raise ValueError("revoked_at is required for, and only for, the revoked status")
        if self.kind != "revoked" and self.reason is not None:
            raise ValueError("a reason is only given with the revoked status")


def parse_ocsp_request(der: bytes) -> OcspQuery:
    """The CertID and nonce of a DER OCSP request. Raises InvalidInput (malformed, several CertIDs,
    an unsupported CertID hash, an oversized nonce): the responder answers malformedRequest.
    """
    if len(der) > MAX_OCSP_REQUEST_BYTES:
        raise InvalidInput(f"the OCSP request has {len(der)} bytes, at most {MAX_OCSP_REQUEST_BYTES}")
    try:
        request = ocsp.load_der_ocsp_request(der)
    except NotImplementedError:
        # cryptography refuses requests with several CertIDs; one per request is what clients send.
        raise InvalidInput("the OCSP request asks about more than one certificate") from None
    except ValueError:
        raise InvalidInput("the OCSP request is not a DER OCSPRequest") from None
    try:
        algorithm = request.hash_algorithm
    except UnsupportedAlgorithm:
        raise InvalidInput("the OCSP request's CertID uses an unsupported hash algorithm") from None
    return OcspQuery(
        serial=request.serial_number,
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        hash_algorithm=algorithm,
        nonce=_nonce(request),
    )


def ocsp_request_matches_ca(query: OcspQuery, ca_cert: x509.Certificate) -> bool:
    """Whether the query's CertID names ``ca_cert`` as issuer (hashes of its name and its key)."""
    subject_der, key_bits = _issuer_id_parts(ca_cert)
    name_hash = _digest(query.hash_algorithm, subject_der)
    key_hash = _digest(query.hash_algorithm, key_bits)
    return hmac.compare_digest(name_hash, query.issuer_name_hash) and hmac.compare_digest(
        key_hash, query.issuer_key_hash
    )


def build_ocsp_response(
    *,
    query: OcspQuery,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    status: OcspStatus,
    this_update: dt.datetime,
    next_update: dt.datetime,
    certificate: x509.Certificate | None,
) -> bytes:
    """A successful, CA-signed DER OCSP response for the query's CertID, echoing its nonce.

    ``certificate`` is the certificate asked about when the caller has it (only checked against the
    serial). Raises InvalidInput (the query names another CA or another serial, nextUpdate not after
    thisUpdate, remove_from_crl), KeyMismatch (``ca_key`` is not the CA's key).
    """
    this_update, next_update = to_utc(this_update), to_utc(next_update)
    if next_update <= this_update:
        raise InvalidInput(
            f"nextUpdate {next_update.isoformat()} must be later than thisUpdate {this_update.isoformat()}"
        )
    ca_name = ca_cert.subject.rfc4514_string()
    if not ocsp_request_matches_ca(query, ca_cert):
        raise InvalidInput(f"the OCSP request asks about a certificate of another CA than {ca_name}")
    if certificate is not None and certificate.serial_number != query.serial:
        raise InvalidInput(
            f"the certificate has serial {certificate.serial_number:x}, the OCSP request asks about"
            f" {query.serial:x}"
        )
    if ca_key.public_key() != certificate_public_key(ca_cert):
        raise KeyMismatch(f"the private key does not belong to the CA {ca_name}")
    if isinstance(ca_key, SM2PrivateKey):
        return _sm2_response(query, ca_cert, ca_key, status, this_update, next_update)

    revoked_at = None if status.revoked_at is None else to_utc(status.revoked_at)
    reason = None if status.reason is None else reason_flag(status.reason)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=query.issuer_name_hash,
            issuer_key_hash=query.issuer_key_hash,
            serial_number=query.serial,
            algorithm=query.hash_algorithm,
            cert_status=_CERT_STATUS[status.kind],
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        # By key hash: shorter than the name and unambiguous when a CA is re-keyed under the same name.
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert)
    )
    if query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), critical=False)
    response = builder.sign(ca_key, signature_hash_for(ca_key))
    return response.public_bytes(Encoding.DER)


def ocsp_error_response(kind: str) -> bytes:
    """An unsigned DER error response: malformedRequest, unauthorized, internalError or tryLater.

    Raises ValueError for another kind (a programming error, not user input).
    """
    if kind not in _ERROR_STATUS:
        raise ValueError(f"unknown OCSP error kind {kind!r}; expected one of {', '.join(_ERROR_STATUS)}")
    return ocsp.OCSPResponseBuilder.build_unsuccessful(_ERROR_STATUS[kind]).public_bytes(Encoding.DER)


def _sm2_response(
    query: OcspQuery,
    ca_cert: x509.Certificate,
    ca_key: SM2PrivateKey,
    status: OcspStatus,
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> bytes:
    """The response cryptography's builder would make, signed with SM3withSM2 (default distinguishing ID)."""
    _, key_bits = _issuer_id_parts(ca_cert)
    single = {
        "cert_id": {
            # cryptography writes the CertID hash's AlgorithmIdentifier with NULL parameters too.
            "hash_algorithm": {"algorithm": query.hash_algorithm.name, "parameters": asn1_core.Null()},
            "issuer_name_hash": query.issuer_name_hash,
            "issuer_key_hash": query.issuer_key_hash,
            "serial_number": query.serial,
        },
        "cert_status": _asn1_status(status),
        "this_update": this_update,
        "next_update": next_update,
    }
    data = asn1_ocsp.ResponseData(
        {
            # RFC 6960 §4.2.2.3 byKey: SHA-1 of the responder's subjectPublicKey bits, as for other CAs.
            "responder_id": asn1_ocsp.ResponderId(
                name="by_key",
                value=hashlib.sha1(key_bits).digest(),  # SHA-1 is what RFC 6960 mandates here
            ),
            "produced_at": this_update,
            "responses": [single],
        }
    )
    if query.nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": query.nonce}]
    algorithm = signature_algorithm_identifier(ca_key)
    basic = asn1_ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": data,
            "signature_algorithm": algorithm,
            "signature": sign_data(ca_key, data.dump()),
        }
    )
    response = asn1_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    )
    return bytes(response.dump())


def _asn1_status(status: OcspStatus) -> asn1_ocsp.CertStatus:
    if status.kind != "revoked":
        return asn1_ocsp.CertStatus(name=status.kind, value=asn1_core.Null())
    assert status.revoked_at is not None
    revoked: dict[str, object] = {"revocation_time": to_utc(status.revoked_at)}
    if status.reason is not None and reason_flag(status.reason) is not None:
        revoked["revocation_reason"] = status.reason.value  # asn1crypto names the CRLReason values alike
    return asn1_ocsp.CertStatus(name="revoked", value=revoked)


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        extension = request.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        raise InvalidInput("the OCSP request's extensions are malformed") from None
    nonce = extension.value.nonce
    if not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        raise InvalidInput(f"the OCSP nonce has {len(nonce)} bytes; 1 to {MAX_NONCE_BYTES} are accepted")
    return nonce


def _issuer_id_parts(cert: x509.Certificate) -> tuple[bytes, bytes]:
    # RFC 6960 §4.1.1: issuerNameHash is over the subject exactly as encoded in the certificate (so read
    # from its DER, not re-encoded), issuerKeyHash over the subjectPublicKey BIT STRING's value (without
    # tag, length and unused-bits octet), not over the whole SubjectPublicKeyInfo.
    tbs = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))["tbs_certificate"]
    return tbs["subject"].dump(), bytes(tbs["subject_public_key_info"]["public_key"])


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()
