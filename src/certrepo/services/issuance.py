"""Issuance (SPEC §1.2, §1.1): a certificate from the repository's intermediate CA, for a CSR or for a
key the service generates, into a private repository (client and server profiles) or a compliant one
bound to a document-signing intermediate (document_signing profile, key kept, never exportable).

Two transactions: a read-only one loads the repository, the CA and its key; keys are generated and the
certificate signed outside any transaction; a short write transaction re-checks the repository, reserves
the serial in ``ca_issued`` (its primary key makes serials unique per CA) and stores the certificate, its
sealed key and the audit event together.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certrepo.domain.access import Permission
from certrepo.domain.ca import CertificateAuthority, IssuedRecord, crl_url_of, ocsp_url_of
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CertificateSource, DataSource, IssueUsage, KeyAlgorithm
from certrepo.domain.errors import (
    AlgorithmMismatch,
    ChainInvalid,
    InvalidInput,
    MissingParameter,
    StateConflict,
)
from certrepo.domain.ids import new_certificate_identifier
from certrepo.domain.repository import Repository
from certrepo.domain.secrets import Secret
from certrepo.pki.chain import OrderedChain
from certrepo.pki.csr import csr_facts, load_csr
from certrepo.pki.issue import DOCUMENT_SIGNING_EKU, San, SubjectSpec, new_serial
from certrepo.pki.issue import issue_certificate as sign_certificate
from certrepo.pki.keygen import PrivateKey, PublicKey
from certrepo.pki.load import load_certificates
from certrepo.pki.profiles import check_compliant_profile, check_trusted_chain

from .audit import event_for
from .cas import BACKDATE, SignerOfCa, load_signer, take_key
from .certificates import store_certificate, to_certificate
from .context import Call, Services
from .ports import UnitOfWork
from .repositories import load_repository

__all__ = ["DEFAULT_VALIDITY_DAYS", "IssueRequest", "Issued", "issue_certificate"]

DEFAULT_VALIDITY_DAYS = 365
MAX_VALIDITY_DAYS = 3650

_PROFILES_BY_SOURCE: dict[DataSource, frozenset[IssueUsage]] = {
    DataSource.PRIVATE: frozenset({IssueUsage.CLIENT, IssueUsage.SERVER}),
    DataSource.COMPLIANT: frozenset({IssueUsage.DOCUMENT_SIGNING}),
}
_EKU_OF_USAGE = {
    IssueUsage.SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
    IssueUsage.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
    IssueUsage.DOCUMENT_SIGNING: DOCUMENT_SIGNING_EKU,
}
_SUBJECT_OIDS = {
    "common_name": NameOID.COMMON_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "organizational_unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "country": NameOID.COUNTRY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "locality": NameOID.LOCALITY_NAME,
}


@dataclass(frozen=True)
class IssueRequest:
    """What to issue. Either ``csr`` or a generated key (``key_algorithm``, default: the CA's); subject
    fields and SANs given here win over the CSR's; validity as days or a not_before/not_after pair."""

    usage: IssueUsage
    csr: str | None = None
    key_algorithm: KeyAlgorithm | None = None
    common_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    sans: tuple[San, ...] = ()
    validity_days: int | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    exportable: bool = False
    name: str | None = None
    custom_identifier: str | None = None


@dataclass(frozen=True)
class Issued:
    """The stored certificate and, once, its generated key as PKCS#8 PEM (when asked exportable)."""

    certificate: Certificate
    private_key_pem: Secret | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Context:
    repository: Repository
    signer: SignerOfCa
    trusted: tuple[x509.Certificate, ...]  # compliant: the trust repository's certificates


@dataclass(frozen=True)
class _Subject:
    public_key: PublicKey
    key: PrivateKey | None  # the generated key, None for a CSR
    subject: SubjectSpec
    sans: tuple[San, ...]


async def issue_certificate(
    services: Services, call: Call, repository_id: int, request: IssueRequest
) -> Issued:
    """Issue into a private or compliant repository bound to a CA. Raises PermissionDenied,
    RepositoryNotFound, RepositoryDisabled (first, whatever else is wrong), InvalidInput (profile, SANs,
    subject, validity past the CA, bad CSR), MissingParameter, AlgorithmMismatch, NoPrivateKey,
    ChainInvalid, CaNotFound, StateConflict, Unsupported."""
    call.principal.require(Permission.MANAGE)
    now = services.clock().replace(microsecond=0)
    # Read, check the request, make the key and sign outside any write transaction (an RSA key takes tens
    # of milliseconds, and SQLite has one writer: the write transaction below only touches the database).
    async with services.uow(read_only=True) as uow:
        repository = await _usable_repository(uow, call, repository_id, request)
        context = await _context(services, uow, call, repository)
    ca = context.signer.ca
    if request.csr is not None:
        subject = _csr_subject(request, ca)
    else:
        subject = await _generated_subject(services, request, ca)
    for attempt in range(2):
        cert = _sign(services, context, request, subject, now)
        if attempt == 0 and repository.data_source is DataSource.COMPLIANT:
            await asyncio.to_thread(_check_compliant, cert, context, now)
        certificate = to_certificate(
            cert,
            identifier=new_certificate_identifier(services.random_bytes),
            repository=repository,
            chain=context.signer.chain,
            has_private_key=subject.key is not None,
            exportable=request.exportable,
            source=CertificateSource.ISSUED,
            now=now,
            name=request.name.strip() if request.name else None,
            custom_identifier=request.custom_identifier,
            issuing_ca_id=ca.id,
        )
        async with services.uow() as uow:
            current = await _usable_repository(uow, call, repository_id, request, for_update=True)
            if current.ca_id != repository.ca_id or current.data_source is not repository.data_source:
                raise StateConflict(
                    f"repository {repository_id} was re-bound while the certificate was being issued; issue again",
                    details={"repository_id": repository_id},
                )
            stored = await _store(services, uow, call, request, certificate, subject.key)
            if stored is not None:
                exported = _exported(subject.key) if subject.key is not None and request.exportable else None
                return Issued(stored, exported)
    raise StateConflict(f"CA {ca.id} drew a serial number it had already issued, twice; issue again")


def _sign(
    services: Services, context: _Context, request: IssueRequest, subject: _Subject, now: datetime
) -> x509.Certificate:
    signer = context.signer
    not_before, not_after = _validity(request, signer.ca, now)
    _check_ca_allows(signer.certificate, signer.ca, request.usage)
    return sign_certificate(
        ca_cert=signer.certificate,
        ca_key=signer.key,
        public_key=subject.public_key,
        subject=subject.subject,
        sans=subject.sans,
        not_before=not_before,
        not_after=not_after,
        profile=request.usage,
        serial=new_serial(services.random_bytes),
        crl_url=crl_url_of(services.base_url, signer.ca.id),
        ocsp_url=ocsp_url_of(services.base_url, signer.ca.id),
        now=now,
    )


async def _store(
    services: Services,
    uow: UnitOfWork,
    call: Call,
    request: IssueRequest,
    certificate: Certificate,
    key: PrivateKey | None,
) -> Certificate | None:
    """Reserve the serial, store the certificate (and its sealed key) with its audit event, commit. None
    when the CA had already issued the serial: the transaction is then spoiled and the caller retries."""
    assert certificate.issuing_ca_id is not None
    record = IssuedRecord(
        certificate.issuing_ca_id, certificate.serial_number, certificate.identifier, certificate.not_after
    )
    if not await uow.cas.reserve_serial(record):
        return None
    stored = await store_certificate(services, uow, certificate, key)
    await uow.audit.append(
        [
            event_for(
                services,
                call,
                "certificate.issue",
                repository_id=certificate.repository_id,
                certificate_id=certificate.identifier,
                details={
                    "ca_id": certificate.issuing_ca_id,
                    "serial_number": certificate.serial_number,
                    "usage": request.usage.value,
                    "key_generated": key is not None,
                    "exportable": request.exportable,
                },
            )
        ]
    )
    await uow.commit()
    return stored


# --- before signing -----------------------------------------------------------------------------------


async def _usable_repository(
    uow: UnitOfWork, call: Call, repository_id: int, request: IssueRequest, *, for_update: bool = False
) -> Repository:
    # for_update: a concurrent reset (which locks the row too) waits for this issuance, then removes what
    # it stored; it can never leave a certificate behind in a reset repository.
    repository = await load_repository(uow, call, repository_id, for_update=for_update)
    repository.ensure_usable()  # the repository's state answers before anything in the payload
    _check_request(repository, request)
    return repository


async def _context(services: Services, uow: UnitOfWork, call: Call, repository: Repository) -> _Context:
    assert repository.ca_id is not None
    signer = await load_signer(services, uow, call, repository.ca_id)
    signer.ca.ensure_can_sign(services.clock())
    trusted: tuple[x509.Certificate, ...] = ()
    if repository.data_source is DataSource.COMPLIANT and repository.trust_repository_id is not None:
        held = await uow.certificates.all_in_repository(repository.trust_repository_id)
        # ignore: in ports.CertificateStore the method "list" shadows the builtin in later annotations
        trusted = tuple(load_certificates(c.pem)[0] for c in held)  # type: ignore[attr-defined]
    return _Context(repository, signer, trusted)


def _check_request(repository: Repository, request: IssueRequest) -> None:
    source = repository.data_source
    assert source is not None
    allowed = _PROFILES_BY_SOURCE.get(source)
    if allowed is None or repository.ca_id is None:
        raise InvalidInput(
            f"repository {repository.id} is {source.value}: certificates are issued into private repositories "
            "and into compliant repositories bound to an intermediate CA",
            details={"repository_id": repository.id},
        )
    if request.usage not in allowed:
        raise InvalidInput(
            f"usage {request.usage.value} does not fit a {source.value} repository: use "
            + " or ".join(sorted(u.value for u in allowed)),
            details={"field": "usage"},
        )
    if request.csr is not None and request.key_algorithm is not None:
        raise InvalidInput(
            "give either csr or key_algorithm: a CSR carries its own key", details={"field": "key_algorithm"}
        )
    if source is DataSource.COMPLIANT:
        if request.csr is not None:
            raise InvalidInput(
                "compliant certificates are issued with a server-generated key (the service signs with it): "
                "leave out csr",
                details={"field": "csr"},
            )
        if request.exportable:
            raise InvalidInput(
                "keys of compliant certificates are never exportable", details={"field": "exportable"}
            )
    if request.exportable and request.csr is not None:
        raise InvalidInput(
            "exportable applies to a generated key; with a CSR the key stays with the requester",
            details={"field": "exportable"},
        )
    _check_names(request)


def _check_names(request: IssueRequest) -> None:
    value = request.custom_identifier
    if value is not None and (
        not 1 <= len(value) <= 128 or any(not (c.isalnum() or c in "-_.:") for c in value)
    ):
        raise InvalidInput(
            "custom_identifier must be 1-128 letters, digits, '-', '_', '.' or ':'",
            details={"field": "custom_identifier"},
        )
    if request.name is not None and not 1 <= len(request.name.strip()) <= 128:
        raise InvalidInput("name must be 1-128 characters", details={"field": "name"})


def _validity(request: IssueRequest, ca: CertificateAuthority, now: datetime) -> tuple[datetime, datetime]:
    """notBefore and notAfter. A requested validity past the CA's notAfter is refused, never cut; the
    default (365 days) ends with the CA at the latest."""
    given = (request.not_before is not None, request.not_after is not None)
    if request.validity_days is not None and any(given):
        raise InvalidInput("give days or not_before + not_after, not both", details={"field": "days"})
    if any(given) and not all(given):
        missing = "not_after" if given[0] else "not_before"
        raise MissingParameter(
            f"{missing} is needed with {'not_before' if given[0] else 'not_after'}",
            details={"field": missing},
        )
    if request.not_before is not None and request.not_after is not None:
        not_before, not_after = _utc(request.not_before), _utc(request.not_after)
        field_name = "not_after"
        if not_after <= not_before:
            raise InvalidInput("not_after must be later than not_before", details={"field": "not_after"})
    else:
        days = DEFAULT_VALIDITY_DAYS if request.validity_days is None else request.validity_days
        if not 1 <= days <= MAX_VALIDITY_DAYS:
            raise InvalidInput(
                f"days must be 1 to {MAX_VALIDITY_DAYS}, got {days}", details={"field": "days"}
            )
        not_before, not_after = now - BACKDATE, now + timedelta(days=days)
        if request.validity_days is None:
            # Nothing was asked, so nothing is cut: the default ends with the CA at the latest.
            not_after = min(not_after, ca.not_after)
        field_name = "days"
    if not_after > ca.not_after:
        raise InvalidInput(
            f"the certificate would end on {not_after:%Y-%m-%d %H:%M:%S}Z, past the notAfter "
            f"{ca.not_after:%Y-%m-%d %H:%M:%S}Z of CA {ca.id} ({ca.common_name}); it is refused, not shortened",
            details={"field": field_name, "ca_not_after": ca.not_after.isoformat()},
        )
    if not_before < ca.not_before:
        raise InvalidInput(
            f"not_before {not_before:%Y-%m-%d} is before the CA {ca.id} became valid ({ca.not_before:%Y-%m-%d})",
            details={"field": "not_before"},
        )
    if not_after <= now:
        raise InvalidInput(f"not_after {not_after:%Y-%m-%d} is in the past", details={"field": "not_after"})
    return not_before, not_after


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _csr_subject(request: IssueRequest, ca: CertificateAuthority) -> _Subject:
    """The CSR's key (its signature checked), and the subject and SANs asked here, else the CSR's."""
    assert request.csr is not None
    facts = csr_facts(load_csr(_csr_bytes(request.csr)))
    ca_family = KeyAlgorithm(ca.key_algorithm).family
    if facts.key_family != ca_family:
        raise AlgorithmMismatch(
            f"the CSR holds an {facts.key_family} key; CA {ca.id} ({ca.common_name}) has an {ca_family} key "
            f"and issues {ca_family} keys only",
            details={"field": "csr"},
        )
    subject = _subject_of_request(request) or _subject_of_csr(facts.subject)
    return _Subject(facts.public_key, None, subject, request.sans or facts.sans)


async def _generated_subject(services: Services, request: IssueRequest, ca: CertificateAuthority) -> _Subject:
    """A new key (default: the CA's algorithm) and the subject and SANs asked."""
    ca_family = KeyAlgorithm(ca.key_algorithm).family
    algorithm = request.key_algorithm or KeyAlgorithm(ca.key_algorithm)
    if algorithm.family != ca_family:
        raise AlgorithmMismatch(
            f"key_algorithm {algorithm.value} is of the {algorithm.family} family; CA {ca.id} ({ca.common_name}) "
            f"issues {ca_family} keys only",
            details={"field": "key_algorithm"},
        )
    requested = _subject_of_request(request)
    if requested is None:
        raise MissingParameter(
            "a generated key needs a subject: give common_name or organization",
            details={"field": "common_name"},
        )
    # RSA generation takes tens of milliseconds (more without a warm pool): keep it off the event loop.
    if algorithm.family == "RSA":
        key = await asyncio.to_thread(take_key, services, algorithm)
    else:
        key = take_key(services, algorithm)
    return _Subject(key.public_key(), key, requested, request.sans)


def _csr_bytes(text: str) -> str | bytes:
    # PEM as is; anything else is base64 of the DER (binary values travel base64-encoded, SPEC §2.1).
    if "-----BEGIN" in text:
        return text
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "csr is neither PEM nor base64 of a DER PKCS#10 request", details={"field": "csr"}
        ) from None


def _subject_of_request(request: IssueRequest) -> SubjectSpec | None:
    values = {name: getattr(request, name) for name in _SUBJECT_OIDS}
    if all(v is None for v in values.values()):
        return None
    return SubjectSpec(**values)


def _subject_of_csr(name: x509.Name) -> SubjectSpec:
    # The attributes the product issues; others a CSR asks for (emailAddress, serialNumber, ...) are dropped.
    values: dict[str, str | None] = {}
    for field_name, oid in _SUBJECT_OIDS.items():
        found = name.get_attributes_for_oid(oid)
        values[field_name] = str(found[0].value) if found else None
    return SubjectSpec(**values)


def _check_ca_allows(ca_cert: x509.Certificate, ca: CertificateAuthority, usage: IssueUsage) -> None:
    """An (imported) CA whose extendedKeyUsage leaves out the profile's purpose would issue certificates
    that relying parties reject: refuse instead."""
    try:
        allowed = ca_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if _EKU_OF_USAGE[usage] not in allowed and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in allowed:
        raise InvalidInput(
            f"CA {ca.id} ({ca.common_name}) restricts extendedKeyUsage and cannot issue {usage.value} certificates",
            details={"field": "usage"},
        )


def _check_compliant(cert: x509.Certificate, context: _Context, now: datetime) -> None:
    check_compliant_profile(cert, has_private_key=True, now=now)
    if context.repository.trust_repository_id is not None:
        if not context.trusted:
            raise ChainInvalid(
                f"trust repository {context.repository.trust_repository_id} holds no CA certificate to validate "
                "against"
            )
        check_trusted_chain(OrderedChain(cert, context.signer.chain), trusted=context.trusted, now=now)


def _exported(key: PrivateKey) -> Secret:
    return Secret(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
