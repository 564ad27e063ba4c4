"""Building certificates of the private CA (SPEC §1.2): root and intermediate CAs, and end entities.

Pure functions over cryptography's builders: keys, names, times and serials come in as arguments; every
refusal is a domain error naming the field. A certificate is drafted first (``_Draft``, the builder's
fields) and then signed: by cryptography's builder, or by ``pki/sm2.py`` when an SM2 key is the subject's
or the issuer's (cryptography has no SM2), with the same extensions in the same order. Validity is never silently cut to fit the CA: a request past
the CA's notAfter is refused. The subject and SAN value types and their syntax checks are here too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from certrepo.domain.enums import IssueUsage
from certrepo.domain.errors import (
    AlgorithmMismatch,
    CertificateExpired,
    InvalidInput,
    KeyMismatch,
)
from certrepo.pki.keygen import PrivateKey, PublicKey, key_family, signature_hash_for
from certrepo.pki.sm2 import (
    authority_key_identifier_of_key,
    certificate_public_key,
    is_sm2_key,
    sign_certificate,
    subject_key_identifier_of_key,
)

__all__ = [
    "DOCUMENT_SIGNING_EKU",
    "MIN_RSA_BITS",
    "Profile",
    "San",
    "SubjectSpec",
    "authority_key_identifier_for",
    "build_intermediate_ca",
    "build_root_ca",
    "check_url",
    "issue_certificate",
    "new_serial",
    "san_from_general_name",
    "to_utc",
    "validate_sans",
]

# The issuance profiles are the product's issue usages (client, server, document_signing).
Profile = IssueUsage

DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336
MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 16384
_EC_CURVES_ALLOWED = ("secp256r1", "secp384r1", "secp521r1")
_SERIAL_RANDOM_BYTES = 16  # 127 bits of entropy after clearing the top bit; RFC 5280 allows 20 octets
_MAX_SERIAL = (1 << 159) - 1  # positive and at most 20 octets in DER

_EKU_BY_PROFILE: dict[IssueUsage, ObjectIdentifier] = {
    IssueUsage.SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
    IssueUsage.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
    IssueUsage.DOCUMENT_SIGNING: DOCUMENT_SIGNING_EKU,
}


# --- subject ----------------------------------------------------------------------------------------

# (field, attribute, upper bound from RFC 5280 Appendix A), in the order the name is written.
_SUBJECT_ATTRIBUTES: tuple[tuple[str, ObjectIdentifier, int], ...] = (
    ("country", NameOID.COUNTRY_NAME, 2),
    ("state", NameOID.STATE_OR_PROVINCE_NAME, 128),
    ("locality", NameOID.LOCALITY_NAME, 128),
    ("organization", NameOID.ORGANIZATION_NAME, 64),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, 64),
    ("common_name", NameOID.COMMON_NAME, 64),
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SubjectSpec:
    """The subject distinguished name of a new certificate; country is an ISO 3166 two-letter code.

    Construction raises InvalidInput naming the bad field; ``to_name()`` also refuses an empty subject.
    """

    common_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                _check_subject_value(field.name, value)
        if self.country is not None:
            if not re.fullmatch(r"[A-Za-z]{2}", self.country):
                raise InvalidInput(
                    f"subject country {self.country!r} is not a two-letter ISO 3166 code such as 'CN' or 'US'"
                )
            object.__setattr__(self, "country", self.country.upper())

    def to_name(self) -> x509.Name:
        """The x509 Name (C, ST, L, O, OU, CN). Raises InvalidInput when every field is empty."""
        attributes = [
            x509.NameAttribute(oid, getattr(self, field))
            for field, oid, _ in _SUBJECT_ATTRIBUTES
            if getattr(self, field) is not None
        ]
        if not attributes:
            raise InvalidInput("the subject is empty: give at least a common name or an organization")
        return x509.Name(attributes)


def _check_subject_value(field: str, value: object) -> None:
    label = f"subject {field.replace('_', ' ')}"
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text")
    if not value.strip():
        raise InvalidInput(f"{label} is empty")
    if _CONTROL_CHARACTERS.search(value):
        raise InvalidInput(f"{label} contains a control character")
    limit = next(bound for name, _, bound in _SUBJECT_ATTRIBUTES if name == field)
    if len(value) > limit:
        raise InvalidInput(f"{label} has {len(value)} characters, at most {limit} are allowed (RFC 5280)")


# --- subject alternative names ----------------------------------------------------------------------

_SAN_TYPES = ("dns", "email", "uri", "ip")
_MAX_SANS = 1000
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# RFC 5322 dot-atom local part; quoted local parts and SMTPUTF8 mailboxes (an otherName) are not offered.
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_URI_CHARACTERS = re.compile(r"[\x21-\x7e]+")  # IA5String without spaces; non-ASCII must be %-encoded


@dataclass(frozen=True)
class San:
    """One subject alternative name as the API carries it: ``type`` is dns, email, uri or ip."""

    type: str
    value: str


def validate_sans(sans: Sequence[San]) -> list[x509.GeneralName]:
    """The SANs as GeneralNames, each checked for its type's syntax. Raises InvalidInput naming the SAN."""
    if len(sans) > _MAX_SANS:
        raise InvalidInput(f"at most {_MAX_SANS} SANs are allowed, got {len(sans)}")
    names: list[x509.GeneralName] = []
    seen: dict[tuple[str, str], int] = {}
    for number, san in enumerate(sans, start=1):
        if san.type not in _SAN_TYPES:
            raise InvalidInput(f"SAN {number} has type {san.type!r}: expected dns, email, uri or ip")
        where = f"SAN {number} (type {san.type})"
        if not isinstance(san.value, str) or not san.value:
            raise InvalidInput(f"{where}: the value is empty")
        names.append(_general_name(where, san))
        key = (san.type, san.value.lower() if san.type == "dns" else san.value)
        if key in seen:
            raise InvalidInput(f"{where}: {_show(san.value)} repeats SAN {seen[key]}")
        seen[key] = number
    return names


def san_from_general_name(name: x509.GeneralName) -> San | None:
    """The San of a GeneralName (dns, email, uri, ip), or None for a type the product does not offer."""
    if isinstance(name, x509.DNSName):
        return San("dns", name.value)
    if isinstance(name, x509.RFC822Name):
        return San("email", name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return San("uri", name.value)
    if isinstance(name, x509.IPAddress):
        return San("ip", str(name.value))
    return None


def check_url(label: str, url: str) -> None:
    """Refuse a CRL or OCSP URL that is not an absolute http(s) URL with a host. Raises InvalidInput."""
    if not _URI_CHARACTERS.fullmatch(url):
        raise InvalidInput(f"{label} {_show(url)} contains spaces, control or non-ASCII characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"{label} {_show(url)} is not an absolute http(s) URL")


def _general_name(where: str, san: San) -> x509.GeneralName:
    value = san.value
    if san.type == "dns":
        _check_dns(where, value, wildcard_ok=True)
        return x509.DNSName(value)
    if san.type == "email":
        _check_email(where, value)
        return x509.RFC822Name(value)
    if san.type == "uri":
        _check_uri(where, value)
        return x509.UniformResourceIdentifier(value)
    return x509.IPAddress(_parse_ip(where, value))


def _check_dns(where: str, value: str, *, wildcard_ok: bool) -> None:
    if _is_ip(value):
        raise InvalidInput(f"{where}: {_show(value)} is an IP address, not a DNS name: use type ip")
    labels = value.split(".")
    # RFC 1035 preferred name syntax (LDH labels of 1-63 characters, 253 in all); a wildcard is the whole
    # leftmost label of a name with at least one more label (RFC 6125 §6.4.3, CA/B BR 7.1.2.7.12).
    if wildcard_ok and len(labels) > 1 and labels[0] == "*":
        labels = labels[1:]
    if len(value) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(f"{where}: {_show(value)} is not a DNS name")


def _check_email(where: str, value: str) -> None:
    local, at, domain = value.rpartition("@")
    if not at or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise InvalidInput(f"{where}: {_show(value)} is not an email address (local@domain)")
    try:
        _check_dns(where, domain, wildcard_ok=False)
    except InvalidInput:
        raise InvalidInput(f"{where}: {_show(value)} is not an email address (local@domain)") from None


def _check_uri(where: str, value: str) -> None:
    # RFC 5280 §4.2.1.6: an absolute URI with a scheme and a scheme-specific part; if it has an authority,
    # the host must be present.
    scheme, colon, rest = value.partition(":")
    if not colon or not _URI_SCHEME.fullmatch(scheme) or not rest or not _URI_CHARACTERS.fullmatch(value):
        raise InvalidInput(f"{where}: {_show(value)} is not an absolute URI (scheme:rest, ASCII, no spaces)")
    if rest.startswith("//"):
        try:
            host = urllib.parse.urlsplit(value).hostname
        except ValueError:
            host = None
        if not host:
            raise InvalidInput(f"{where}: {_show(value)} has an authority without a host")


def _parse_ip(where: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if "%" in value or "/" in value:
        raise InvalidInput(f"{where}: {_show(value)} is not a single IP address (no zone or prefix)")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInput(f"{where}: {_show(value)} is not an IPv4 or IPv6 address") from None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _show(value: str) -> str:
    # Quote the offending value for the message, shortened so that a huge input cannot flood a log.
    return repr(value if len(value) <= 80 else value[:77] + "...")


def new_serial(random_bytes: Callable[[int], bytes]) -> int:
    """A positive random serial of 127 bits (CA/B BR: >= 64 bits of CSPRNG output; RFC 5280: <= 20 octets).

    Pass ``os.urandom`` or ``secrets.token_bytes``. Raises ValueError if the source misbehaves.
    """
    for _ in range(4):
        raw = random_bytes(_SERIAL_RANDOM_BYTES)
        if len(raw) != _SERIAL_RANDOM_BYTES:
            raise ValueError(f"random source returned {len(raw)} bytes, expected {_SERIAL_RANDOM_BYTES}")
        # Clearing the top bit keeps the DER INTEGER positive without a leading zero octet.
        serial = int.from_bytes(raw, "big") & ((1 << (8 * _SERIAL_RANDOM_BYTES - 1)) - 1)
        if serial:
            return serial
    raise ValueError("random source returned only zeros")


def to_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def build_root_ca(
    *,
    key: PrivateKey,
    subject: SubjectSpec,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_len: int | None,
    serial: int,
) -> x509.Certificate:
    """A self-signed root CA certificate. Raises InvalidInput (validity, path length, serial, subject)."""
    not_before, not_after = _check_validity(not_before, not_after)
    _check_serial(serial)
    _check_path_len(path_len)
    _check_key_strength(key.public_key())
    name = subject.to_name()
    public = key.public_key()
    builder = _ca_builder(name, name, public, not_before, not_after, path_len, serial).add_extension(
        # A self-signed certificate's AKI repeats its own SKI (RFC 5280 §4.2.1.1 allows it; OpenSSL
        # and the CA/B profile expect it).
        authority_key_identifier_of_key(public),
        critical=False,
    )
    return builder.sign(key)


def build_intermediate_ca(
    *,
    key_public: PublicKey,
    subject: SubjectSpec,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_len: int | None,
    serial: int,
    crl_url: str | None,
    ocsp_url: str | None,
) -> x509.Certificate:
    """An intermediate CA certificate signed by ``issuer_cert``.

    Any key family may sit under any CA. Raises InvalidInput (validity past the issuer's notAfter, a
    path length the issuer's pathLenConstraint forbids, an issuer that is not a CA), KeyMismatch
    (``issuer_key`` is not the issuer's key).
    """
    not_before, not_after = _check_validity(not_before, not_after)
    _check_serial(serial)
    _check_path_len(path_len)
    _check_key_strength(key_public)
    issuer_name = _describe(issuer_cert)
    _check_ca_can_issue(issuer_cert, issuer_key)
    _check_within_ca(not_after, issuer_cert)
    issuer_path_len = _basic_constraints(issuer_cert).path_length
    if issuer_path_len is not None:
        if issuer_path_len == 0:
            raise InvalidInput(f"the CA {issuer_name} has pathLen 0 and cannot issue intermediate CAs")
        if path_len is None or path_len > issuer_path_len - 1:
            raise InvalidInput(
                f"path_len {path_len} is not allowed under the CA {issuer_name} (pathLen"
                f" {issuer_path_len}): at most {issuer_path_len - 1}"
            )
    builder = _ca_builder(
        issuer_cert.subject, subject.to_name(), key_public, not_before, not_after, path_len, serial
    ).add_extension(authority_key_identifier_for(issuer_cert), critical=False)
    builder = _add_revocation_urls(builder, crl_url, ocsp_url)
    return builder.sign(issuer_key)


def issue_certificate(
    *,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    public_key: PublicKey,
    subject: SubjectSpec,
    sans: Sequence[San],
    not_before: dt.datetime,
    not_after: dt.datetime,
    profile: IssueUsage,
    serial: int,
    crl_url: str,
    ocsp_url: str,
    now: dt.datetime,
) -> x509.Certificate:
    """An end-entity certificate of ``profile`` signed by the CA.

    Raises AlgorithmMismatch (key family differs from the CA's), InvalidInput (validity, SANs, subject,
    serial, weak key, server without SAN), KeyMismatch (``ca_key`` is not the CA's key),
    CertificateExpired (the CA is expired at ``now``).
    """
    now = to_utc(now)
    profile = IssueUsage(profile)  # a plain "server" from a caller works too; anything else is refused
    not_before, not_after = _check_validity(not_before, not_after)
    _check_serial(serial)
    ca_name = _describe(ca_cert)
    _check_ca_can_issue(ca_cert, ca_key)
    if ca_cert.not_valid_after_utc <= now:
        raise CertificateExpired(f"the CA {ca_name} expired on {_day(ca_cert.not_valid_after_utc)}")
    family = key_family(public_key)
    ca_family = key_family(certificate_public_key(ca_cert))
    if family != ca_family:
        raise AlgorithmMismatch(
            f"an {_family_label(family)} key cannot be issued under the"
            f" {_family_label(ca_family)} CA {ca_name}"
        )
    _check_key_strength(public_key)
    _check_within_ca(not_after, ca_cert)
    if not_after <= now:
        raise InvalidInput(f"notAfter {_day(not_after)} is in the past")
    general_names = validate_sans(sans)
    if profile is IssueUsage.SERVER and not general_names:
        raise InvalidInput("a server certificate needs at least one SAN (a DNS name or an IP address)")
    name = subject.to_name()

    builder = (
        _Draft(ca_cert.subject, name, public_key, serial, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(profile, family), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_EKU_BY_PROFILE[profile]]), critical=False)
        .add_extension(subject_key_identifier_of_key(public_key), critical=False)
        .add_extension(authority_key_identifier_for(ca_cert), critical=False)
    )
    if general_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(general_names), critical=False)
    builder = _add_revocation_urls(builder, crl_url, ocsp_url)
    return builder.sign(ca_key)


# --- helpers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    """What cryptography's CertificateBuilder holds, for SM2 keys too; immutable like the builder."""

    issuer: x509.Name
    subject: x509.Name
    public_key: PublicKey
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    extensions: tuple[x509.Extension[x509.ExtensionType], ...] = ()

    def add_extension(self, value: x509.ExtensionType, *, critical: bool) -> _Draft:
        return replace(self, extensions=(*self.extensions, x509.Extension(value.oid, critical, value)))

    def sign(self, key: PrivateKey) -> x509.Certificate:
        if is_sm2_key(key) or is_sm2_key(self.public_key):
            return sign_certificate(
                issuer=self.issuer,
                subject=self.subject,
                public_key=self.public_key,
                serial=self.serial,
                not_before=self.not_before,
                not_after=self.not_after,
                extensions=self.extensions,
                signing_key=key,
                hash_algorithm=None if is_sm2_key(key) else signature_hash_for(key),
            )
        builder = (
            x509.CertificateBuilder()
            .issuer_name(self.issuer)
            .subject_name(self.subject)
            .public_key(self.public_key)  # type: ignore[arg-type]  # is_sm2_key is False
            .serial_number(self.serial)
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
        )
        for extension in self.extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        return builder.sign(key, signature_hash_for(key))  # type: ignore[arg-type]  # not SM2 either


def _ca_builder(
    issuer: x509.Name,
    subject: x509.Name,
    public: PublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    path_len: int | None,
    serial: int,
) -> _Draft:
    return (
        _Draft(issuer, subject, public, serial, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            # digitalSignature too: the CA signs its own OCSP responses (CA/B BR 7.1.2.10.7).
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(subject_key_identifier_of_key(public), critical=False)
    )


def _leaf_key_usage(profile: IssueUsage, family: str) -> x509.KeyUsage:
    signing = profile is IssueUsage.DOCUMENT_SIGNING
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=signing,
        # Key transport: RSA in TLS 1.2 and below, SM2 in TLCP (GB/T 38636) and the SM2PKE encryption
        # the repositories offer; meaningless for ECDSA and Ed25519 keys.
        key_encipherment=not signing and family in ("RSA", "SM2"),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _add_revocation_urls(builder: _Draft, crl_url: str | None, ocsp_url: str | None) -> _Draft:
    if crl_url is not None:
        check_url("CRL URL", crl_url)
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if ocsp_url is not None:
        check_url("OCSP URL", ocsp_url)
        access = x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return builder


def authority_key_identifier_for(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The AKI of whatever ``ca_cert`` signs (certificates, CRLs): its SKI, or the key's SHA-1 if none."""
    # The AKI must equal the issuer's SKI byte for byte (RFC 5280 §4.2.1.1); an imported CA may use a
    # different SKI method than SHA-1 of the key, so copy it rather than recompute it.
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return authority_key_identifier_of_key(certificate_public_key(ca_cert))
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return x509.BasicConstraints(ca=False, path_length=None)


def _check_ca_can_issue(ca_cert: x509.Certificate, ca_key: PrivateKey) -> None:
    ca_name = _describe(ca_cert)
    if not _basic_constraints(ca_cert).ca:
        raise InvalidInput(f"the certificate {ca_name} is not a CA (basicConstraints cA is not set)")
    try:
        usage: x509.KeyUsage | None = ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise InvalidInput(f"the CA {ca_name} may not sign certificates (keyUsage lacks keyCertSign)")
    if ca_key.public_key() != certificate_public_key(ca_cert):
        raise KeyMismatch(f"the private key does not belong to the CA {ca_name}")


def _check_validity(not_before: dt.datetime, not_after: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    not_before, not_after = to_utc(not_before), to_utc(not_after)
    if not_after <= not_before:
        raise InvalidInput(
            f"notAfter {not_after.isoformat()} must be later than notBefore {not_before.isoformat()}"
        )
    return not_before, not_after


def _check_within_ca(not_after: dt.datetime, ca_cert: x509.Certificate) -> None:
    # Refused, never cut: a silently shortened certificate surprises whoever renews it.
    ca_not_after = ca_cert.not_valid_after_utc
    if not_after > ca_not_after:
        raise InvalidInput(
            f"notAfter {_day(not_after)} is past the CA's notAfter {_day(ca_not_after)}"
            f" (CA {_describe(ca_cert)})"
        )


def _check_serial(serial: int) -> None:
    if not 0 < serial <= _MAX_SERIAL:
        raise InvalidInput("the serial number must be positive and at most 20 octets (RFC 5280 §4.1.2.2)")


def _check_path_len(path_len: int | None) -> None:
    if path_len is not None and path_len < 0:
        raise InvalidInput(f"path_len must be 0 or more, got {path_len}")


def _check_key_strength(public_key: PublicKey) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= public_key.key_size <= _MAX_RSA_BITS:
            raise InvalidInput(
                f"RSA keys must have {MIN_RSA_BITS} to {_MAX_RSA_BITS} bits,"
                f" this one has {public_key.key_size}"
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in _EC_CURVES_ALLOWED:
            raise InvalidInput(
                f"EC curve {public_key.curve.name} is not allowed (P-256, P-384 or P-521 only)"
            )
    else:
        key_family(public_key)  # raises Unsupported for key types that cannot be certified here


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _day(moment: dt.datetime) -> str:
    return moment.date().isoformat()


def _family_label(family: str) -> str:
    return {"ED25519": "Ed25519"}.get(family, family)
