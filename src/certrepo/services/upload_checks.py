"""The checks of an upload, item by item: pure CPU on the inputs and the target repository's rules.

No database, clock or randomness here: the repository, its trust anchors, ``now`` and new identifiers come in
as arguments, so the use cases (uploads.py) can run these before their write transaction, in the event loop
or in one thread hop for a whole batch. Every check raises what the single upload answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certrepo.domain.certificate import Certificate, San
from certrepo.domain.enums import CertificateSource, CertificateStatus, DataSource
from certrepo.domain.errors import ChainInvalid, DuplicateCertificate, InvalidInput
from certrepo.domain.repository import Repository
from certrepo.pki.chain import order_chain, validate_ca_upload, validate_upload_chain
from certrepo.pki.facts import certificate_facts
from certrepo.pki.load import LoadedKey, check_key_matches, load_upload
from certrepo.pki.profiles import check_compliant_profile
from certrepo.pki.sm2 import certificate_public_key

__all__ = [
    "MAX_UPLOAD_BYTES",
    "CheckedUpload",
    "ParsedUpload",
    "Upload",
    "UploadResult",
    "UploadTarget",
    "check_ca_upload",
    "check_each",
    "check_leaf_upload",
    "parse_upload",
    "to_certificate",
]

MAX_UPLOAD_BYTES = 64 * 1024  # one item: certificate + key + chain

_T = TypeVar("_T")


@dataclass(frozen=True)
class Upload:
    certificate: str
    private_key: str | None = None
    chain: str | None = None
    password: str | None = field(default=None, repr=False)
    name: str | None = None
    custom_identifier: str | None = None
    exportable: bool = False
    allow_expired: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        """Characters of certificate, key and chain: what the checks have to read."""
        return sum(len(text) for text in (self.certificate, self.private_key, self.chain) if text)


@dataclass(frozen=True)
class UploadResult:
    certificates: list[Certificate]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadTarget:
    """The repository an upload goes into and what its checks depend on: its data source, and for a
    compliant repository the CA certificates of its trust repository."""

    repository: Repository
    trusted: tuple[x509.Certificate, ...] = ()
    trusted_fingerprints: frozenset[str] = frozenset()

    def same_rules_as(self, other: UploadTarget) -> bool:
        """True when an item checked against ``other`` meets exactly the checks it would meet here."""
        mine, theirs = self.repository, other.repository
        return (mine.data_source, mine.trust_repository_id, self.trusted_fingerprints) == (
            theirs.data_source,
            theirs.trust_repository_id,
            other.trusted_fingerprints,
        )


@dataclass(frozen=True)
class ParsedUpload:
    """An item that passed the checks of the item alone."""

    upload: Upload
    certificates: list[x509.Certificate]
    key: LoadedKey | None


@dataclass(frozen=True)
class CheckedUpload:
    """An item that passed every check of an uploaded or compliant repository: what to store."""

    certificate: Certificate
    key: LoadedKey | None
    warnings: tuple[str, ...]


def check_each(work: Callable[[int], _T], count: int) -> list[_T | Exception]:
    """``work(i)`` for every item; an item's exception is its outcome and never stops the others."""
    outcomes: list[_T | Exception] = []
    for index in range(count):
        try:
            outcomes.append(work(index))
        except Exception as exc:  # noqa: BLE001 - per item: a refusal, or a fault reported for that item
            outcomes.append(exc)
    return outcomes


# --- the item alone ------------------------------------------------------------------------------------


def _check_identifiers(upload: Upload) -> None:
    if upload.custom_identifier is not None:
        value = upload.custom_identifier
        if not 1 <= len(value) <= 128 or any(not (c.isalnum() or c in "-_.:") for c in value):
            raise InvalidInput(
                "custom_identifier must be 1-128 letters, digits, '-', '_', '.' or ':'",
                details={"field": "custom_identifier"},
            )
    if upload.name is not None and not 1 <= len(upload.name.strip()) <= 128:
        raise InvalidInput("name must be 1-128 characters", details={"field": "name"})


def parse_upload(upload: Upload) -> ParsedUpload:
    """The identifiers' rules, then the strict load of certificate, key and chain. Raises InvalidInput,
    MessageTooLarge (over MAX_UPLOAD_BYTES)."""
    _check_identifiers(upload)
    loaded = load_upload(
        upload.certificate,
        private_key=upload.private_key,
        chain=upload.chain,
        password=upload.password.encode() if upload.password is not None else None,
        max_bytes=MAX_UPLOAD_BYTES,
    )
    return ParsedUpload(upload, list(loaded.certificates), loaded.private_key)


# --- uploaded and compliant repositories -------------------------------------------------------------------


def _leaf_for(certs: list[x509.Certificate], key: LoadedKey | None) -> x509.Certificate | None:
    """With a key, the leaf is the certificate the key belongs to (so order in the upload does not matter)."""
    if key is None:
        return None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    wanted = key.public_key().public_bytes(*spki)
    for cert in certs:
        # pki.sm2's reader: cryptography's cert.public_key() cannot load SM2 keys.
        if certificate_public_key(cert).public_bytes(*spki) == wanted:
            return cert
    return None


def check_leaf_upload(
    parsed: ParsedUpload, target: UploadTarget, *, identifier: str, now: datetime
) -> CheckedUpload:
    """The checks of an uploaded or compliant repository; the certificate to store. Raises InvalidInput and
    its kinds (KeyMismatch, ChainInvalid, ChainIncomplete, CertificateExpired)."""
    upload, key, repository = parsed.upload, parsed.key, target.repository
    compliant = repository.data_source is DataSource.COMPLIANT
    if compliant and upload.exportable:
        raise InvalidInput(
            "keys of compliant certificates are never exportable", details={"field": "exportable"}
        )
    if upload.exportable and key is None:
        raise InvalidInput(
            "exportable applies to an upload with a private key", details={"field": "exportable"}
        )
    chain = order_chain(parsed.certificates, leaf=_leaf_for(parsed.certificates, key))
    if key is not None:
        check_key_matches(chain.leaf, key)
    if compliant:
        check_compliant_profile(chain.leaf, has_private_key=key is not None, now=now)
        if repository.trust_repository_id is not None and not target.trusted:
            raise ChainInvalid(
                f"trust repository {repository.trust_repository_id} holds no CA certificate to validate against"
            )
    warnings = validate_upload_chain(
        chain, now=now, allow_expired_leaf=upload.allow_expired and not compliant, trusted=target.trusted
    )
    certificate = to_certificate(
        chain.leaf,
        identifier=identifier,
        repository=repository,
        chain=chain.issuers,
        has_private_key=key is not None,
        exportable=upload.exportable,
        source=CertificateSource.UPLOAD,
        now=now,
        name=upload.name.strip() if upload.name else None,
        custom_identifier=upload.custom_identifier,
        tags=upload.tags,
    )
    return CheckedUpload(certificate, key, warnings)


# --- uploaded_ca repositories: a trust store ---------------------------------------------------------------


def check_ca_upload(
    parsed: ParsedUpload,
    repository: Repository,
    *,
    held: Sequence[Certificate],
    held_x509: Sequence[x509.Certificate],
    identifiers: Iterator[str],
    now: datetime,
) -> list[tuple[Certificate, x509.Certificate]]:
    """The CA certificates of one item that the repository does not hold yet (``held``), roots first, each
    with its X.509 form. Raises InvalidInput (a key given), ChainInvalid, ChainIncomplete,
    DuplicateCertificate (every one is held already)."""
    if parsed.key is not None:
        raise InvalidInput(
            "an uploaded_ca repository is a trust store: upload CA certificates without private keys",
            details={"field": "private_key"},
        )
    upload = parsed.upload
    ordered = validate_ca_upload(parsed.certificates, repository_certificates=held_x509, now=now)
    held_fingerprints = {c.fingerprint_sha256: c for c in held}
    by_subject = {c.subject: c for c in [*held_x509, *ordered]}
    one = len(ordered) == 1  # name and custom identifier go to a lone certificate only
    new: list[tuple[Certificate, x509.Certificate]] = []
    for cert in ordered:
        facts = certificate_facts(cert)
        if facts.fingerprint_sha256 in held_fingerprints:
            continue  # already in the trust store: it served as a link
        issuer = by_subject.get(cert.issuer) if not facts.is_self_signed else None
        certificate = to_certificate(
            cert,
            identifier=next(identifiers),
            repository=repository,
            chain=[issuer] if issuer is not None else [],
            has_private_key=False,
            exportable=False,
            source=CertificateSource.UPLOAD,
            now=now,
            name=(upload.name.strip() if upload.name else None) if one else None,
            custom_identifier=upload.custom_identifier if one else None,
            tags=upload.tags,
        )
        new.append((certificate, cert))
    if not new:
        existing = held_fingerprints[certificate_facts(ordered[0]).fingerprint_sha256]
        raise DuplicateCertificate(
            f"every uploaded certificate is already in repository {repository.id} (e.g. {existing.identifier})",
            details={"identifier": existing.identifier},
        )
    return new


# --- certificates as stored ----------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def to_certificate(
    cert: x509.Certificate,
    *,
    identifier: str,
    repository: Repository,
    chain: Sequence[x509.Certificate],
    has_private_key: bool,
    exportable: bool,
    source: CertificateSource,
    now: datetime,
    name: str | None = None,
    custom_identifier: str | None = None,
    issuing_ca_id: int | None = None,
    tags: dict[str, str] | None = None,
) -> Certificate:
    """The domain certificate of a parsed X.509 certificate and its chain (issuer first)."""
    facts = certificate_facts(cert)
    assert repository.id is not None
    return Certificate(
        identifier=identifier,
        account_id=repository.account_id,
        repository_id=repository.id,
        name=name,
        custom_identifier=custom_identifier,
        common_name=facts.common_name,
        sans=tuple(San(t, v) for t, v in facts.sans),
        subject=facts.subject,
        issuer=facts.issuer,
        serial_number=facts.serial_number,
        not_before=facts.not_before,
        not_after=facts.not_after,
        key_algorithm=facts.key_algorithm_name,
        key_size=facts.key_size,
        signature_algorithm=facts.signature_algorithm,
        fingerprint_sha1=facts.fingerprint_sha1,
        fingerprint_sha256=facts.fingerprint_sha256,
        is_ca=facts.is_ca,
        has_private_key=has_private_key,
        exportable=exportable,
        source=source,
        status=CertificateStatus.ISSUED,
        pem=_pem(cert),
        chain_pem="".join(_pem(c) for c in chain),
        issuing_ca_id=issuing_ca_id,
        tags=dict(tags or {}),
        created_at=now,
    )
