"""Certificate uploads, one or a batch: every check of the repository's data source, then one write.

A batch behaves as its items uploaded one after the other in one transaction: each item is stored whole
(its certificates, sealed key and audit events) or refused with the error its single upload would get,
and a refused item changes nothing and refuses no other item. The single upload is a batch of one.

Where the time goes (issue 3): the checks (upload_checks.py) are pure CPU, ~1 ms a leaf and its key, three
quarters of it the strict parse; the write transaction holds SQLite's one writer (for all processes), ~0.3 ms
a certificate. So the parse always runs before the write transaction. A small call (up to
``_INLINE_CHECK_BYTES`` of input: a single upload) parses in the event loop and runs the repository's checks
(~0.1 ms a leaf) in the write transaction: no thread hop (~0.1 ms of CPU) and no read transaction (~1 ms of
aiosqlite handoffs on SQLite). A larger one reads the repository first and runs every check in one thread
hop, so that the event loop keeps serving and nothing but inserts happens under the write lock; the write
transaction then checks that the repository's rules have not changed meanwhile (else it checks again).
Accepted items are stored with one ``add_many`` of the certificate store. uploaded_ca items depend on what
the trust store holds, the items before them included: they are checked one by one in the write transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar, cast

from cryptography.hazmat.primitives import serialization

from certrepo.domain.access import Permission
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import DataSource
from certrepo.domain.errors import CertrepoError, InvalidInput, MessageTooLarge
from certrepo.domain.ids import new_certificate_identifier
from certrepo.domain.secrets import SealedSecret
from certrepo.pki.load import LoadedKey, load_certificates

from .audit import event_for
from .context import Call, Services
from .ports import Keystore, UnitOfWork
from .repositories import load_repository
from .upload_checks import (
    MAX_UPLOAD_BYTES,
    CheckedUpload,
    ParsedUpload,
    Upload,
    UploadResult,
    UploadTarget,
    check_ca_upload,
    check_each,
    check_leaf_upload,
    parse_upload,
    to_certificate,
)

__all__ = [
    "MAX_BATCH_ITEMS",
    "MAX_UPLOAD_BYTES",
    "PRIVATE_KEY_PURPOSE",
    "BulkCertificateStore",
    "Upload",
    "UploadOutcome",
    "UploadResult",
    "check_batch_size",
    "seal_private_key",
    "store_certificate",
    "to_certificate",
    "upload_certificate",
    "upload_certificates",
]

PRIVATE_KEY_PURPOSE = "private-key"
MAX_BATCH_ITEMS = 100
# Checks cost ~0.5-1 ms of CPU per KiB of input (asn1crypto's full parse of each certificate, pyhanko's path
# validation of a chain). Below this much input they run in the event loop; above it, in one thread hop for
# the whole call, so that this worker keeps answering its other requests while a batch is checked.
_INLINE_CHECK_BYTES = 16 * 1024

_T = TypeVar("_T")

# Per item of a batch, in order: what was stored, or why the item was refused (a CertrepoError, or an
# unexpected exception: a fault, which the front end renders as its single upload's 500 would be).
UploadOutcome = UploadResult | Exception


class BulkCertificateStore(Protocol):
    """What uploads need of the certificate store beyond ``ports.CertificateStore`` (store/certificates.py)."""

    async def add_many(
        self,
        groups: Sequence[Sequence[tuple[Certificate, SealedSecret | None]]],
        *,
        key_purpose: str,
        now: datetime,
    ) -> list[list[Certificate] | CertrepoError]:
        """Each group stored whole, or the error its first refused certificate meets; see the store."""
        ...


def seal_private_key(keystore: Keystore, key: LoadedKey) -> SealedSecret:
    """The key as unencrypted PKCS#8 DER, sealed by the keystore for PRIVATE_KEY_PURPOSE."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return keystore.seal(der, purpose=PRIVATE_KEY_PURPOSE)


async def store_certificate(
    services: Services,
    uow: UnitOfWork,
    certificate: Certificate,
    key: LoadedKey | None,
) -> Certificate:
    """Seal the key (if any) and insert the certificate in the caller's transaction: both or neither."""
    key_id = None
    if key is not None:
        key_id = await uow.key_material.add(
            seal_private_key(services.keystore, key),
            purpose=PRIVATE_KEY_PURPOSE,
            now=certificate.created_at or services.clock(),
        )
    return await uow.certificates.add(certificate, key_id=key_id)


# --- use cases ---------------------------------------------------------------------------------------------


def check_batch_size(count: int) -> None:
    """Raises MessageTooLarge for a batch of more than MAX_BATCH_ITEMS uploads."""
    if count > MAX_BATCH_ITEMS:
        raise MessageTooLarge(
            f"a batch holds at most {MAX_BATCH_ITEMS} uploads and this one has {count}: split it",
            details={"limit": MAX_BATCH_ITEMS, "items": count},
        )


async def upload_certificate(
    services: Services, call: Call, repository_id: int, upload: Upload
) -> UploadResult:
    """Upload into an uploaded, uploaded_ca or compliant repository, after every check of its data
    source. Raises RepositoryDisabled, InvalidInput (and its kinds: KeyMismatch, ChainInvalid,
    ChainIncomplete, CertificateExpired), MessageTooLarge, DuplicateCertificate."""
    [outcome] = await upload_certificates(services, call, repository_id, [upload])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def upload_certificates(
    services: Services, call: Call, repository_id: int, uploads: Sequence[Upload]
) -> list[UploadOutcome]:
    """Upload a batch as if its items came one after the other, in one transaction. Per item, in order: its
    result, or the error its single upload raises (DuplicateCertificate also for an item an earlier item of
    the batch stores). Raises for the whole batch what concerns the repository (PermissionDenied,
    RepositoryNotFound, RepositoryDisabled, InvalidInput for a private one) and MessageTooLarge over
    MAX_BATCH_ITEMS uploads."""
    call.principal.require(Permission.MANAGE)
    check_batch_size(len(uploads))
    if not uploads:
        return []
    now = services.clock()
    identifiers = [new_certificate_identifier(services.random_bytes) for _ in uploads]
    size = sum(u.size_bytes for u in uploads)
    known: UploadTarget | None = None
    if size <= _INLINE_CHECK_BYTES:
        # Small (a single upload): parse here; the repository's checks, ~0.1 ms a leaf, run in the write
        # transaction, which saves a read transaction (~1 ms of aiosqlite thread handoffs on SQLite).
        parsed, checked = _parse_and_check(uploads, None, identifiers, now)
    else:
        async with services.uow(read_only=True) as uow:
            known = await _load_target(uow, call, repository_id)
        parsed, checked = await asyncio.to_thread(_parse_and_check, uploads, known, identifiers, now)
    sealed = _seal_accepted(services, checked)
    async with services.uow() as uow:
        target = await _load_target(uow, call, repository_id, known=known)
        if target.repository.data_source is DataSource.UPLOADED_CA:
            outcomes = await _store_cas(services, uow, target, parsed, now)
        else:
            if known is None or not target.same_rules_as(known):  # not checked yet, or against other rules
                checked = _check_leaves(parsed, target, identifiers, now)
                sealed = _seal_accepted(services, checked)
            outcomes = await _store_leaves(uow, checked, sealed, now)
        await _audit(services, call, uow, repository_id, outcomes)
        await uow.commit()
    return outcomes


async def _load_target(
    uow: UnitOfWork, call: Call, repository_id: int, *, known: UploadTarget | None = None
) -> UploadTarget:
    """The repository, if it takes uploads: RepositoryNotFound, RepositoryDisabled, InvalidInput (private).
    Its trust anchors are parsed again only when they differ from ``known``'s."""
    repository = await load_repository(uow, call, repository_id, with_count=False)
    repository.ensure_usable()  # the repository's state answers before the payload
    if repository.data_source is DataSource.PRIVATE:
        raise InvalidInput(
            "a private repository holds certificates issued by its CA: issue one instead of uploading",
            details={"field": "certificate"},
        )
    if repository.data_source is not DataSource.COMPLIANT or repository.trust_repository_id is None:
        return UploadTarget(repository)
    held = await _all_in_repository(uow, repository.trust_repository_id)
    fingerprints = frozenset(c.fingerprint_sha256 for c in held)
    if known is not None and known.trusted_fingerprints == fingerprints:
        return UploadTarget(repository, known.trusted, fingerprints)
    return UploadTarget(repository, tuple(load_certificates(c.pem)[0] for c in held), fingerprints)


async def _all_in_repository(uow: UnitOfWork, repository_id: int) -> list[Certificate]:
    # ports.CertificateStore spells its return type ``list[...]`` after defining a method named ``list``,
    # which mypy then reads as that method: say what it is.
    return cast("list[Certificate]", await uow.certificates.all_in_repository(repository_id))


async def _off_the_loop_if_large(size_bytes: int, work: Callable[[], _T]) -> _T:
    """Run CPU-bound checks here when small, else in one thread hop (see _INLINE_CHECK_BYTES)."""
    if size_bytes <= _INLINE_CHECK_BYTES:
        return work()
    return await asyncio.to_thread(work)


def _parse_and_check(
    uploads: Sequence[Upload], target: UploadTarget | None, identifiers: Sequence[str], now: datetime
) -> tuple[list[ParsedUpload | Exception], list[CheckedUpload | Exception]]:
    """Every item parsed (what needs no repository); checked too when the target is known and is not an
    uploaded_ca repository (whose checks depend on what it holds: they run in the write transaction)."""
    parsed = check_each(lambda i: parse_upload(uploads[i]), len(uploads))
    if target is None or target.repository.data_source is DataSource.UPLOADED_CA:
        return parsed, []
    return parsed, _check_leaves(parsed, target, identifiers, now)


def _check_leaves(
    parsed: Sequence[ParsedUpload | Exception],
    target: UploadTarget,
    identifiers: Sequence[str],
    now: datetime,
) -> list[CheckedUpload | Exception]:
    def check(index: int) -> CheckedUpload:
        item = parsed[index]
        if isinstance(item, Exception):
            raise item
        return check_leaf_upload(item, target, identifier=identifiers[index], now=now)

    return check_each(check, len(parsed))


def _seal_accepted(
    services: Services, checked: Sequence[CheckedUpload | Exception]
) -> list[SealedSecret | None]:
    """The accepted items' keys, sealed; a batch seals them before its write transaction (with an HSM
    keystore, sealing is a round trip to it)."""
    return [
        seal_private_key(services.keystore, item.key)
        if isinstance(item, CheckedUpload) and item.key is not None
        else None
        for item in checked
    ]


def _bulk(uow: UnitOfWork) -> BulkCertificateStore:
    return cast(BulkCertificateStore, uow.certificates)  # the SQL store has it (store/certificates.py)


async def _store_leaves(
    uow: UnitOfWork,
    checked: Sequence[CheckedUpload | Exception],
    sealed: Sequence[SealedSecret | None],
    now: datetime,
) -> list[UploadOutcome]:
    """Every accepted item in one add_many; refusals (a duplicate, a taken custom identifier) stay per item."""
    accepted = [(index, item) for index, item in enumerate(checked) if isinstance(item, CheckedUpload)]
    groups = [[(item.certificate, sealed[index])] for index, item in accepted]
    added = await _bulk(uow).add_many(groups, key_purpose=PRIVATE_KEY_PURPOSE, now=now)
    stored = dict(zip([index for index, _ in accepted], added, strict=True))
    outcomes: list[UploadOutcome] = []
    for index, item in enumerate(checked):
        if isinstance(item, Exception):
            outcomes.append(item)
            continue
        result = stored[index]
        outcomes.append(result if isinstance(result, CertrepoError) else UploadResult(result, item.warnings))
    return outcomes


async def _store_cas(
    services: Services,
    uow: UnitOfWork,
    target: UploadTarget,
    parsed: Sequence[ParsedUpload | Exception],
    now: datetime,
) -> list[UploadOutcome]:
    """Items of an uploaded_ca repository, one after the other in the write transaction: each is checked
    against the CA certificates the repository holds, those stored by the items before it included."""
    repository = target.repository
    assert repository.id is not None
    held = await _all_in_repository(uow, repository.id)
    held_x509 = [load_certificates(c.pem)[0] for c in held]
    outcomes: list[UploadOutcome] = []
    for item in parsed:
        try:
            if isinstance(item, Exception):
                raise item
            identifiers = iter([new_certificate_identifier(services.random_bytes) for _ in item.certificates])
            check = partial(
                check_ca_upload,
                item,
                repository,
                held=held,
                held_x509=held_x509,
                identifiers=identifiers,
                now=now,
            )
            new = await _off_the_loop_if_large(item.upload.size_bytes, check)
        except Exception as exc:  # noqa: BLE001 - per item, as check_each
            outcomes.append(exc)
            continue
        [result] = await _bulk(uow).add_many(
            [[(c, None) for c, _ in new]], key_purpose=PRIVATE_KEY_PURPOSE, now=now
        )
        if isinstance(result, CertrepoError):
            outcomes.append(result)
            continue
        held.extend(result)
        held_x509.extend(cert for _, cert in new)
        outcomes.append(UploadResult(result))
    return outcomes


async def _audit(
    services: Services, call: Call, uow: UnitOfWork, repository_id: int, outcomes: Sequence[UploadOutcome]
) -> None:
    """One certificate.upload event per stored certificate, in the order of the items."""
    await uow.audit.append(
        [
            event_for(
                services,
                call,
                "certificate.upload",
                repository_id=repository_id,
                certificate_id=c.identifier,
                details={"has_private_key": c.has_private_key, "exportable": c.exportable},
            )
            for outcome in outcomes
            if isinstance(outcome, UploadResult)
            for c in outcome.certificates
        ]
    )
