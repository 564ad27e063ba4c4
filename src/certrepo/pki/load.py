"""Strict loading of uploaded certificates and private keys: PEM, DER, base64 DER and PKCS#12.

Strict means: nothing but whitespace around or between PEM blocks, every block decodes, every key and
certificate is of a family certrepo handles (RSA, EC P-256/384/521, Ed25519, SM2). A refusal names the
field and the PEM block, never key material. Third-party parse errors are translated here into
InvalidInput. cryptography reads SM2 certificates but not SM2 keys: those are loaded by the SM2 glue
(PKCS#8 or SEC1 with the SM2 curve, as ``openssl genpkey -algorithm SM2`` and GmSSL write them).
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

from asn1crypto import pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from certrepo.domain.errors import InvalidInput, KeyMismatch, MessageTooLarge, Unsupported
from certrepo.pki.facts import certificate_key_algorithm, describe_certificate, key_algorithm_name
from certrepo.pki.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    certificate_public_key,
    load_sm2_private_key,
    sm2_keys_match,
)

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "SUPPORTED_KEY_FAMILIES",
    "LoadedKey",
    "LoadedUpload",
    "check_key_matches",
    "check_supported_key",
    "load_certificates",
    "load_private_key",
    "load_private_key_fast",
    "load_upload",
]

DEFAULT_MAX_UPLOAD_BYTES = 65536

# Key families an upload may carry (the values of KeyAlgorithm.family).
SUPPORTED_KEY_FAMILIES: frozenset[str] = frozenset({"RSA", "EC", "ED25519", "SM2"})

# A private key as loaded: a cryptography key, or an SM2 key (pki/sm2.py), which cryptography cannot load.
LoadedKey: TypeAlias = PrivateKeyTypes | SM2PrivateKey

_CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
# "SM2 PRIVATE KEY" is what `openssl ec` writes for a SEC1 SM2 key.
_KEY_LABELS = frozenset(
    {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}
)
# RFC 7468 framing. The body is left to cryptography's PEM reader (it also handles the legacy
# Proc-Type/DEK-Info headers of OpenSSL-encrypted keys); this only checks what lies around the blocks.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL)
_DER_SEQUENCE = 0x30
# countryName and the EV jurisdictionCountryName: ISO 3166 two-letter codes.
_COUNTRY_OIDS = frozenset({"2.5.4.6", "1.3.6.1.4.1.311.60.2.1.3"})

_KeyLoader = Callable[[bytes, bytes | None], PrivateKeyTypes]
_NOT_A_KEY = "not a valid private key (PKCS#1, SEC1 or PKCS#8 expected)"


@dataclass(frozen=True)
class LoadedUpload:
    """What an upload holds: its certificates as given, in order, and its private key if any."""

    certificates: tuple[x509.Certificate, ...]
    private_key: LoadedKey | None


@dataclass(frozen=True)
class _PemBlock:
    position: int
    label: str
    data: bytes


def load_upload(
    certificate: str | bytes,
    *,
    private_key: str | bytes | None = None,
    chain: str | bytes | None = None,
    password: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> LoadedUpload:
    """Load an upload: certificate (PEM, DER, base64 DER or PKCS#12), optional key and chain.

    Raises MessageTooLarge over ``max_bytes`` in total, InvalidInput for anything malformed, encrypted
    without the right password, ambiguous (two keys) or of an unsupported algorithm.
    """
    total = sum(len(_as_bytes(field)) for field in (certificate, private_key, chain) if field is not None)
    if total > max_bytes:
        raise MessageTooLarge(f"upload is {total} bytes, over the limit of {max_bytes} bytes")
    certificates, embedded_key = _load_certificate_field(certificate, password)
    key = embedded_key
    if _is_given(private_key):
        if embedded_key is not None:
            raise InvalidInput(
                "the certificate field already holds a private key and private_key is given too: send it once"
            )
        key = load_private_key(private_key, password)
    if _is_given(chain):
        certificates += _load_certificates(chain, "chain")
    return LoadedUpload(certificates=tuple(certificates), private_key=key)


def load_certificates(data: str | bytes) -> list[x509.Certificate]:
    """Load one or more certificates from PEM, DER or base64 DER. Raises InvalidInput if malformed."""
    return _load_certificates(data, "certificate")


def load_private_key(data: str | bytes, password: bytes | None = None) -> LoadedKey:
    """Load one private key: PEM (PKCS#1, SEC1, PKCS#8, encrypted PKCS#8) or DER / base64 DER; SM2 keys
    as unencrypted PKCS#8 or SEC1.

    Raises InvalidInput when malformed, encrypted without (the right) password, or of an unsupported type.
    """
    field = "private_key"
    text = _pem_text(data)
    if text is None:
        return _load_key_bytes(_der_bytes(data, field), password, serialization.load_der_private_key, field)
    blocks = _split_pem(text, field)
    if len(blocks) != 1:
        raise InvalidInput(f"{field}: expected one PEM block, found {len(blocks)}")
    return _load_key_block(blocks[0], password, field)


def check_key_matches(certificate: x509.Certificate, key: LoadedKey) -> None:
    """Check that ``key`` is the private key of ``certificate``. Raises KeyMismatch otherwise."""
    try:
        certificate_key = certificate_public_key(certificate)
    except (Unsupported, InvalidInput, ValueError) as exc:
        raise KeyMismatch(
            f"cannot compare the private key with the certificate {describe_certificate(certificate)}: "
            "its key type is not supported"
        ) from exc
    mismatch = KeyMismatch(f"private key does not match the certificate {describe_certificate(certificate)}")
    if isinstance(key, SM2PrivateKey) or isinstance(certificate_key, SM2PublicKey):
        # The public point an SM2 key file carries is not derived from its scalar here (gmssl-pyx has
        # no point multiplication), so the pair is proven: a signature by the scalar must verify.
        if key.public_key() != certificate_key or not sm2_keys_match(key, certificate_key):  # type: ignore[arg-type]
            raise mismatch
        return
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != certificate_key.public_bytes(der, spki):
        raise mismatch


def load_private_key_fast(der_pkcs8: bytes) -> LoadedKey:
    """Load a stored DER PKCS#8 key for a hot path (sign, decrypt), skipping RSA key validation.

    Skipping is safe because every stored key was fully validated (and matched to its certificate) by
    load_private_key at upload or generated by certrepo itself; the RSA consistency check costs
    milliseconds per load. Raises ValueError for corrupt data (a server fault, not a user error).
    """
    try:
        return serialization.load_der_private_key(
            der_pkcs8, password=None, unsafe_skip_rsa_key_validation=True
        )
    except UnsupportedAlgorithm:
        # cryptography has no SM2 curve; the SM2 loader refuses every other curve.
        try:
            return load_sm2_private_key(der_pkcs8)
        except (InvalidInput, Unsupported) as exc:
            raise ValueError(f"the stored private key cannot be loaded: {exc.message}") from None


def check_supported_key(key: object, where: str) -> None:
    """Check that a key (private or public) is of a supported family. Raises InvalidInput naming it."""
    try:
        name, _ = key_algorithm_name(key)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}") from exc
    _check_supported_family(name, where)


# --- certificate field --------------------------------------------------------------------------------


def _load_certificate_field(
    data: str | bytes, password: bytes | None
) -> tuple[list[x509.Certificate], LoadedKey | None]:
    field = "certificate"
    text = _pem_text(data)
    if text is None:
        der = _der_bytes(data, field)
        try:
            return [_load_der_certificate(der, field)], None
        except _NotACertificate:
            return _load_pkcs12(der, password)
    certificates: list[x509.Certificate] = []
    key_blocks: list[_PemBlock] = []
    for block in _split_pem(text, field):
        if block.label in _KEY_LABELS:
            key_blocks.append(block)
        else:
            certificates.append(_load_certificate_block(block, field))
    if not certificates:
        raise InvalidInput(f"{field}: no CERTIFICATE block found")
    if len(key_blocks) > 1:
        raise InvalidInput(f"{field}: holds {len(key_blocks)} private keys, expected at most one")
    key = _load_key_block(key_blocks[0], password, field) if key_blocks else None
    return certificates, key


def _load_certificates(data: str | bytes, field: str) -> list[x509.Certificate]:
    text = _pem_text(data)
    if text is None:
        der = _der_bytes(data, field)
        try:
            return [_load_der_certificate(der, field)]
        except _NotACertificate as exc:
            raise InvalidInput(f"{field}: not a valid certificate (PEM, DER or base64 DER expected)") from exc
    return [_load_certificate_block(block, field) for block in _split_pem(text, field)]


def _load_certificate_block(block: _PemBlock, field: str) -> x509.Certificate:
    where = f"{field}: PEM block {block.position}"
    if block.label not in _CERTIFICATE_LABELS:
        raise InvalidInput(f"{where} is a {block.label}, expected a CERTIFICATE")
    try:
        return _load_der_certificate(_pem_body(block), where)
    except _NotACertificate as exc:
        raise InvalidInput(f"{where} is not a valid certificate") from exc


class _NotACertificate(Exception):
    """Internal: the bytes do not parse as an X.509 certificate (the caller words the refusal)."""


def _load_der_certificate(der: bytes, where: str) -> x509.Certificate:
    # asn1crypto reads it first: chain validation (pyhanko) uses it, and it is stricter on some
    # extensions; what it cannot read is refused before cryptography parses (and maybe warns about) it.
    parsed = _asn1_certificate(der)
    if parsed is None:
        raise _NotACertificate("asn1crypto cannot parse it")
    _check_legacy_fields(parsed, where)
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
        raise _NotACertificate(str(exc)) from exc
    _check_certificate(cert, where)
    return cert


def _asn1_certificate(der: bytes) -> asn1_x509.Certificate | None:
    """The certificate fully parsed by asn1crypto, or None when it cannot read it."""
    try:
        parsed = asn1_x509.Certificate.load(der)
        _ = parsed.native  # asn1crypto parses lazily; this reads every field
    except Exception:  # noqa: BLE001 - a probe: asn1crypto raises many exception types on bad input
        return None
    return parsed


def _check_legacy_fields(parsed: asn1_x509.Certificate, where: str) -> None:
    # cryptography only warns on these (and will refuse them in a future release). Refuse them before it
    # parses the certificate, so that strict loading raises no warning and nothing stored breaks later.
    tbs = parsed["tbs_certificate"]
    serial = tbs["serial_number"].native
    if isinstance(serial, int) and serial <= 0:
        raise InvalidInput(f"{where}: the certificate's serial number is not positive (RFC 5280 §4.1.2.2)")
    for role in ("subject", "issuer"):
        for rdn in tbs[role].chosen:
            for attribute in rdn:
                value = attribute["value"].native
                if attribute["type"].dotted in _COUNTRY_OIDS and len(str(value).encode("utf-8")) != 2:
                    raise InvalidInput(f"{where}: the {role}'s country code {value!r} is not two letters")


def _pem_body(block: _PemBlock) -> bytes:
    text = block.data.decode("ascii").split("-----")[2]  # between "BEGIN label" and "END label"
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""  # cryptography then reports the block as not a certificate


def _check_certificate(cert: x509.Certificate, where: str) -> None:
    # cryptography parses lazily: touch every field we index so a broken one fails here, not later.
    try:
        _ = (cert.subject, cert.issuer, cert.extensions, cert.signature_algorithm_oid)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.serial_number)
    except (
        ValueError,
        UnsupportedAlgorithm,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as exc:
        raise InvalidInput(f"{where} is not a valid certificate (a field cannot be parsed)") from exc
    try:
        name, _size = certificate_key_algorithm(cert)
    except InvalidInput as exc:
        raise InvalidInput(f"{where} ({describe_certificate(cert)}): {exc.message}") from exc
    _check_supported_family(name, f"{where} ({describe_certificate(cert)})")


def _load_pkcs12(der: bytes, password: bytes | None) -> tuple[list[x509.Certificate], PrivateKeyTypes | None]:
    # The shared password may belong to a separately given key: also try the PKCS#12 without one.
    attempts = list(dict.fromkeys([password, None, b""]))
    bundle = None
    for attempt in attempts:
        try:
            with warnings.catch_warnings():
                # Windows and Java export BER-encoded PKCS#12; cryptography reads it but warns. Its
                # certificates are re-checked below like any other, so nothing is hidden by this.
                warnings.simplefilter("ignore")
                bundle = pkcs12.load_pkcs12(der, attempt)
            break
        except (ValueError, TypeError, UnsupportedAlgorithm, InternalError):
            continue
    if bundle is None:
        if not _is_pkcs12(der):
            raise InvalidInput(
                "certificate: not a valid certificate (PEM, DER, base64 DER or PKCS#12 expected)"
            )
        if password is None:
            raise InvalidInput("certificate: the PKCS#12 file is password-protected: give its password")
        raise InvalidInput("certificate: wrong password for the PKCS#12 file (or unsupported encryption)")
    if bundle.cert is None:
        raise InvalidInput("certificate: the PKCS#12 file holds no certificate")
    bundled = [bundle.cert.certificate, *(extra.certificate for extra in bundle.additional_certs)]
    certificates = []
    for position, cert in enumerate(bundled, start=1):
        where = f"certificate: PKCS#12 certificate {position}"
        try:
            certificates.append(_load_der_certificate(cert.public_bytes(Encoding.DER), where))
        except _NotACertificate as exc:
            raise InvalidInput(f"{where} is not a valid certificate") from exc
    if bundle.key is not None:
        check_supported_key(bundle.key, "certificate: PKCS#12 private key")
    return certificates, bundle.key


def _is_pkcs12(der: bytes) -> bool:
    # Only picks the message (wrong password vs. not PKCS#12 at all); asn1crypto raises a variety of
    # exception types on arbitrary bytes, and any of them means "not a PFX".
    try:
        pfx = asn1_pkcs12.Pfx.load(der, strict=True)
        return bool(pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native)
    except Exception:  # noqa: BLE001 - a probe: every failure means "no"
        return False


# --- private keys -------------------------------------------------------------------------------------


def _load_key_block(block: _PemBlock, password: bytes | None, field: str) -> LoadedKey:
    where = f"{field}: PEM block {block.position}"
    if block.label not in _KEY_LABELS:
        raise InvalidInput(f"{where} is a {block.label}, expected a private key")
    return _load_key_bytes(block.data, password, serialization.load_pem_private_key, where)


def _load_key_bytes(data: bytes, password: bytes | None, loader: _KeyLoader, where: str) -> LoadedKey:
    try:
        key = loader(data, None)
    except TypeError as exc:  # cryptography: "Password was not given but private key is encrypted"
        if password is None:
            raise InvalidInput(f"{where}: the private key is encrypted: give its password") from exc
        key = _load_encrypted_key(data, password, loader, where)
    except (ValueError, UnsupportedAlgorithm, InternalError) as exc:
        return _load_sm2_key(data, where, exc)
    check_supported_key(key, where)
    return key


def _load_sm2_key(data: bytes, where: str, refusal: Exception) -> SM2PrivateKey:
    """The SM2 key cryptography refused (``refusal``), or InvalidInput when it is no SM2 key either."""
    try:
        return load_sm2_private_key(data)
    except Unsupported:
        raise InvalidInput(f"{where}: {_NOT_A_KEY}") from refusal
    except InvalidInput as exc:
        # cryptography recognised a key of an unknown curve, or the PEM label names SM2: it is an SM2
        # key, and the SM2 loader says what is wrong with it. Otherwise it is not a key at all.
        if isinstance(refusal, UnsupportedAlgorithm) or b"SM2 PRIVATE KEY" in data:
            raise InvalidInput(f"{where}: {exc.message}") from exc
        raise InvalidInput(f"{where}: {_NOT_A_KEY}") from refusal


def _load_encrypted_key(data: bytes, password: bytes, loader: _KeyLoader, where: str) -> PrivateKeyTypes:
    try:
        return loader(data, password)
    except (ValueError, InternalError) as exc:
        raise InvalidInput(f"{where}: wrong password for the encrypted private key") from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        # An encrypted SM2 key lands here too: cryptography decrypts it, then cannot read the SM2 curve.
        raise InvalidInput(
            f"{where}: the private key's encryption or key type is not supported (give SM2 keys unencrypted)"
        ) from exc


# --- framing ------------------------------------------------------------------------------------------


def _check_supported_family(name: str, where: str) -> None:
    family = name.split("_")[0].replace("ECC", "EC")
    if family not in SUPPORTED_KEY_FAMILIES:
        raise InvalidInput(f"{where}: key algorithm {family} is not supported yet")


def _is_given(field: str | bytes | None) -> TypeGuard[str | bytes]:
    # Forms and JSON clients send an empty string for "no key" / "no chain".
    return field is not None and bool(field.strip())


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _pem_text(data: str | bytes) -> str | None:
    """The input as text if it is PEM, else None (it is DER or base64 DER)."""
    if isinstance(data, bytes):
        if data[:1] == bytes([_DER_SEQUENCE]):
            return None
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return None
    else:
        text = data
    text = text.removeprefix("\ufeff")  # a byte-order mark left by a Windows editor is not content
    return text if "-----BEGIN" in text else None


def _der_bytes(data: str | bytes, field: str) -> bytes:
    """DER from raw binary input or from base64 text (whitespace allowed, nothing else)."""
    if isinstance(data, bytes) and data[:1] == bytes([_DER_SEQUENCE]):
        return data
    try:
        text = data.decode("ascii") if isinstance(data, bytes) else data
        compact = "".join(text.removeprefix("\ufeff").split())
        der = base64.b64decode(compact, validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{field}: neither PEM nor DER nor base64-encoded DER") from exc
    if not der:
        raise InvalidInput(f"{field} is empty")
    return der


def _split_pem(text: str, field: str) -> list[_PemBlock]:
    blocks: list[_PemBlock] = []
    cursor = 0
    for match in _PEM_BLOCK.finditer(text):
        position = len(blocks) + 1
        if text[cursor : match.start()].strip():
            where = (
                "before PEM block 1" if position == 1 else f"between PEM blocks {position - 1} and {position}"
            )
            raise InvalidInput(f"{field}: unexpected text {where}")
        begin, end = match.group(1), match.group(3)
        if begin != end:
            raise InvalidInput(f"{field}: PEM block {position} begins as {begin} but ends as {end}")
        blocks.append(_PemBlock(position, begin, match.group(0).encode("ascii", "replace")))
        cursor = match.end()
    rest = text[cursor:]
    if "-----BEGIN" in rest:
        raise InvalidInput(f"{field}: PEM block {len(blocks) + 1} has no matching END line")
    if rest.strip():
        raise InvalidInput(f"{field}: unexpected text after PEM block {len(blocks)}")
    return blocks
