"""CMS (PKCS#7) detached SignedData signatures: ``SHA256withRSA/P7`` and ``SHA256withECDSA/P7`` (RFC 5652).

The output is what document-signing verifiers expect (SPEC §1.1): DER ContentInfo, detached content of
type id-data, the signer certificate and its chain, and the signed attributes contentType, signingTime,
messageDigest and ESS signingCertificateV2 (RFC 5035, so the signature is CAdES-BES). RSA signers use
PKCS#1 v1.5, EC signers ECDSA.

We assemble the structure with asn1crypto rather than cryptography's ``PKCS7SignatureBuilder``: the
builder stamps signingTime from the clock (time must come in as an argument) and cannot sign a
digest the caller computed, which is how large documents are signed (message_type DIGEST). Each
step is small; ``openssl cms -verify`` checks the result in the tests.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding

from certrepo.crypto.ec import require_ec_key
from certrepo.crypto.messages import Message, check_digest_size, hash_label
from certrepo.crypto.rsa import require_rsa_key
from certrepo.domain.errors import KeyMismatch, MissingParameter

__all__ = ["CmsSignature"]

# id-ecPublicKey as a SignerInfo signatureAlgorithm: not standard, but some producers write it and
# OpenSSL accepts it; the hash then comes from digestAlgorithm as with rsaEncryption.
_EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"

# RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5652 §11.3 says the same).
_UTC_TIME_LAST_YEAR = 2049


class CmsSignature:
    """Detached CMS SignedData made by an RSA (PKCS#1 v1.5) or EC (ECDSA) signer with ``hash_algorithm``."""

    def __init__(self, name: str, hash_algorithm: hashes.HashAlgorithm, family: str) -> None:
        if family not in ("RSA", "EC"):
            raise ValueError(f"CMS signers are RSA or EC, not {family}")
        self.name = name
        self.hash_algorithm = hash_algorithm
        self.family = family
        self.digest_size: int | None = hash_algorithm.digest_size

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is of this algorithm's family."""
        if self.family == "RSA":
            require_rsa_key(self.name, public_key)
        else:
            require_ec_key(self.name, public_key)

    def sign(
        self,
        private_key: object,
        message: Message,
        *,
        certificate: x509.Certificate | None = None,
        chain: Sequence[x509.Certificate] = (),
        signing_time: datetime | None = None,
    ) -> bytes:
        """DER ContentInfo of a detached SignedData over ``message`` (content or DIGEST of it).

        Raises AlgorithmMismatch, MissingParameter (no certificate), KeyMismatch, InvalidInput (digest
        size); ValueError when ``signing_time`` is missing or naive (a caller bug, not user input).
        """
        self.check_key(private_key)
        assert isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        if certificate is None:
            raise MissingParameter(f"{self.name} needs the signer certificate to build the CMS signature")
        if signing_time is None or signing_time.utcoffset() is None:
            raise ValueError("a CMS signature needs an aware signing_time")
        if certificate.public_key() != private_key.public_key():
            raise KeyMismatch("the private key does not belong to the signer certificate")
        signer = _asn1_certificate(certificate)
        signed_attrs = self._signed_attributes(self._digest_of(message), signing_time, signer)
        signature = self._signer(private_key)(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": signer.issuer, "serial_number": signer.serial_number},
                ),
                "digest_algorithm": _digest_algorithm(self.hash_algorithm),
                "signed_attrs": signed_attrs,
                "signature_algorithm": self._signature_algorithm(),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v1",
                "digest_algorithms": [_digest_algorithm(self.hash_algorithm)],
                "encap_content_info": {"content_type": "data"},  # detached: no content
                "certificates": _certificate_set(signer, chain),
                "signer_infos": [signer_info],
            }
        )
        return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())

    def verify(
        self,
        public_key: object,
        message: Message,
        signature: bytes,
        *,
        certificate: x509.Certificate | None = None,
    ) -> bool:
        """Whether ``signature`` (DER ContentInfo) holds a valid signer for ``message`` and ``public_key``.

        With ``certificate``, only signers naming that certificate count. Any parse error or mismatch
        answers False. Raises AlgorithmMismatch, InvalidInput (digest size).
        """
        self.check_key(public_key)
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        digest = self._digest_of(message)
        wanted = _asn1_certificate(certificate) if certificate is not None else None
        try:
            content_info = cms.ContentInfo.load(signature, strict=True)
            if content_info["content_type"].native != "signed_data":
                return False
            signed_data = content_info["content"]
            content_type = signed_data["encap_content_info"]["content_type"].native
            return any(
                self._verify_signer(signer_info, public_key, digest, content_type)
                for signer_info in signed_data["signer_infos"]
                if wanted is None or _names_certificate(signer_info["sid"], wanted)
            )
        # asn1crypto parses lazily, so a malformed structure can fail on any field access above.
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            return False

    def _digest_of(self, message: Message) -> bytes:
        if message.is_digest:
            check_digest_size(
                message, self.name, self.hash_algorithm.digest_size, hash_label(self.hash_algorithm)
            )
            return message.data
        h = hashes.Hash(self.hash_algorithm)
        h.update(message.data)
        return h.finalize()

    def _signed_attributes(
        self, digest: bytes, signing_time: datetime, signer: asn1_x509.Certificate
    ) -> cms.CMSAttributes:
        when = signing_time.replace(microsecond=0)
        time_choice = "utc_time" if when.year <= _UTC_TIME_LAST_YEAR else "generalized_time"
        # ESSCertIDv2 hashes the certificate with SHA-256, its DEFAULT (so the field is omitted).
        cert_hash = hashes.Hash(hashes.SHA256())
        cert_hash.update(signer.dump())
        signing_certificate = tsp.SigningCertificateV2({"certs": [{"cert_hash": cert_hash.finalize()}]})
        # CMSAttributes is a SET OF: asn1crypto sorts the encodings, as DER requires (X.690 §11.6).
        return cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["data"]},
                {"type": "signing_time", "values": [cms.Time(name=time_choice, value=when)]},
                {"type": "message_digest", "values": [digest]},
                {"type": "signing_certificate_v2", "values": [signing_certificate]},
            ]
        )

    def _signature_algorithm(self) -> dict[str, object]:
        if self.family == "RSA":
            # rsaEncryption with NULL parameters: what OpenSSL writes and RFC 3370 §3.2 allows.
            return {"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()}
        return {"algorithm": f"{self.hash_algorithm.name}_ecdsa"}

    def _signer(
        self, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    ) -> Callable[[bytes], bytes]:
        if isinstance(private_key, rsa.RSAPrivateKey):
            return lambda data: private_key.sign(data, padding.PKCS1v15(), self.hash_algorithm)
        return lambda data: private_key.sign(data, ec.ECDSA(self.hash_algorithm))

    def _verify_signer(
        self,
        signer_info: cms.SignerInfo,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        digest: bytes,
        content_type: str,
    ) -> bool:
        if signer_info["digest_algorithm"]["algorithm"].native != self.hash_algorithm.name:
            return False
        if not self._is_expected_signature_algorithm(signer_info["signature_algorithm"]["algorithm"].native):
            return False
        signed_attrs = signer_info["signed_attrs"]
        signed: bytes
        algorithm: hashes.HashAlgorithm | Prehashed
        if isinstance(signed_attrs, core.Void):
            # RFC 5652 §5.4: without signed attributes the signature covers the content (id-data only).
            if content_type != "data":
                return False
            signed, algorithm = digest, Prehashed(self.hash_algorithm)
        else:
            if _single_value(signed_attrs, "content_type") != content_type:
                return False
            message_digest = _single_value(signed_attrs, "message_digest")
            if not isinstance(message_digest, bytes) or not hmac.compare_digest(message_digest, digest):
                return False
            # §5.4: the signature covers the DER of the attributes with the EXPLICIT SET OF tag, i.e. the
            # bytes as received with the [0] IMPLICIT tag replaced by 0x31 (not a re-encoding).
            signed, algorithm = b"\x31" + signed_attrs.dump()[1:], self.hash_algorithm
        signature = signer_info["signature"].native
        try:
            if isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(signature, signed, padding.PKCS1v15(), algorithm)
            else:
                public_key.verify(signature, signed, ec.ECDSA(algorithm))
        except (InvalidSignature, ValueError):
            return False
        return True

    def _is_expected_signature_algorithm(self, name: str) -> bool:
        if self.family == "RSA":
            return name in ("rsassa_pkcs1v15", f"{self.hash_algorithm.name}_rsa")
        return name in (_EC_PUBLIC_KEY_OID, "ecdsa", f"{self.hash_algorithm.name}_ecdsa")


def _digest_algorithm(hash_algorithm: hashes.HashAlgorithm) -> algos.DigestAlgorithm:
    # RFC 5754 §2: SHA-2 AlgorithmIdentifiers are generated with absent parameters. asn1crypto writes
    # NULL into one it builds, but keeps the encoding of one it parsed: so we parse our own.
    oid = algos.DigestAlgorithmId(hash_algorithm.name).dump()
    return algos.DigestAlgorithm.load(b"\x30" + bytes([len(oid)]) + oid)


def _single_value(attributes: cms.CMSAttributes, name: str) -> object:
    # RFC 5652 §11.1-11.2: contentType and messageDigest appear once, with exactly one value.
    found = [a["values"] for a in attributes if a["type"].native == name]
    if len(found) != 1 or len(found[0]) != 1:
        return None
    return found[0][0].native


def _names_certificate(sid: cms.SignerIdentifier, certificate: asn1_x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        return bool(
            sid.chosen["issuer"] == certificate.issuer
            and sid.chosen["serial_number"].native == certificate.serial_number
        )
    key_identifier = certificate.key_identifier
    return key_identifier is not None and sid.chosen.native == key_identifier


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def _certificate_set(
    signer: asn1_x509.Certificate, chain: Sequence[x509.Certificate]
) -> list[asn1_x509.Certificate]:
    # The signer first, then the chain as given; a certificate listed twice is included once.
    certificates = [signer]
    seen = {signer.dump()}
    for certificate in chain:
        parsed = _asn1_certificate(certificate)
        if parsed.dump() not in seen:
            seen.add(parsed.dump())
            certificates.append(parsed)
    return certificates
