"""Certificate rows: add, find, search, delete. Private keys are referenced by key id, never loaded here
except through ``sealed_key`` for the keystore."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from certrepo.domain.certificate import Certificate, CertificateQuery, San
from certrepo.domain.enums import CertificateSource, CertificateStatus, RevocationReason
from certrepo.domain.errors import CertrepoError, DuplicateCertificate, InvalidInput
from certrepo.domain.paging import Page
from certrepo.keystore.base import SealedSecret

from .stores import _Store, sealed_secret_of
from .tables import certificates, key_material

__all__ = ["CertificateStore", "NewCertificate", "search_text_of"]

# Keyword search on SQLite (see _keyword_condition): the FTS5 trigram table of migration 0002, and its tuning.
_search_index = table("certificates_search", column("rowid"), column("certificates_search"))
_MIN_TRIGRAM_KEYWORD = 3  # a shorter keyword holds no trigram, so no index can serve it
_MAX_PROBED_TRIGRAMS = 16  # a long keyword is probed at evenly spaced trigrams
_PROBE_CAP = 2000  # a trigram in more rows than this counts as common
_RARE_TERMS = 4  # candidates come from the AND of at most this many rare trigrams
_COMMON_TERMS = 3  # or, when every trigram is common, of this many of the sparsest ones

# Certificates per repository and status, kept exact by triggers of migration 0002.
_counts = table("certificate_counts", column("repository_id"), column("status"), column("total"))


def _trigrams(keyword: str) -> list[str]:
    """Distinct trigrams of the keyword (code points, as FTS5's trigram tokenizer cuts them), at most
    _MAX_PROBED_TRIGRAMS of them, spread over the keyword so that every part of it is represented."""
    distinct = list(dict.fromkeys(keyword[i : i + 3] for i in range(len(keyword) - 2)))
    if len(distinct) <= _MAX_PROBED_TRIGRAMS:
        return distinct
    step = (len(distinct) - 1) / (_MAX_PROBED_TRIGRAMS - 1)
    return [distinct[round(i * step)] for i in range(_MAX_PROBED_TRIGRAMS)]


def _fts_string(text: str) -> str:
    """An FTS5 string literal: inside double quotes every character is plain text, quotes are doubled."""
    return '"' + text.replace('"', '""') + '"'


def _choose_trigrams(probes: Sequence[tuple[str, int, int | None, int | None]]) -> list[str]:
    """Pick the trigrams to AND, from (trigram, postings up to the cap, lowest and highest rowid seen).

    A trigram with fewer postings than the cap is rare: up to _RARE_TERMS of them, rarest first, bound the
    candidates by the smallest count. When none is rare, the cap was reached within a span of rowids whose
    width tells the trigram's density: the three sparsest, together, still leave few candidates (three
    hex trigrams of a fingerprint, each in ~4% of rows, leave ~0.005% of them)."""
    absent = [t for t, count, _, _ in probes if count == 0]
    if absent:
        return absent[:1]  # no row holds this trigram, so none holds the keyword: one term proves it
    rare = sorted((count, t) for t, count, _, _ in probes if count < _PROBE_CAP)
    if rare:
        return [t for _, t in rare[:_RARE_TERMS]]
    by_density = sorted((count / ((high or 0) - (low or 0) + 1), t) for t, count, low, high in probes)
    return [t for _, t in by_density[:_COMMON_TERMS]]


def _only_status(query: CertificateQuery) -> bool:
    """True when the query filters on nothing but the status: its total is a counter, not a count."""
    dated = query.now is not None and (query.expiring_within_days is not None or query.expired is not None)
    return not query.keyword and query.is_ca is None and query.source is None and not dated


def search_text_of(certificate: Certificate) -> str:
    """What keyword search looks in: common name, SANs, name, serial and fingerprints, lower-cased."""
    parts = [
        certificate.common_name or "",
        *(s.value for s in certificate.sans),
        certificate.name or "",
        certificate.custom_identifier or "",
        certificate.serial_number,
        certificate.fingerprint_sha256,
        certificate.fingerprint_sha1,
    ]
    # A value given twice (the common name is usually a SAN too) is indexed once: fewer trigrams to write.
    return " ".join(dict.fromkeys(p for p in parts if p)).lower()


def _certificate(row: Any) -> Certificate:
    return Certificate(
        identifier=row.identifier,
        account_id=row.account_id,
        repository_id=row.repository_id,
        name=row.name,
        custom_identifier=row.custom_identifier,
        common_name=row.common_name,
        sans=tuple(San(s["type"], s["value"]) for s in row.sans or []),
        subject=row.subject,
        issuer=row.issuer,
        serial_number=row.serial_number,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=row.key_algorithm,
        key_size=row.key_size,
        signature_algorithm=row.signature_algorithm,
        fingerprint_sha1=row.fingerprint_sha1,
        fingerprint_sha256=row.fingerprint_sha256,
        is_ca=row.is_ca,
        has_private_key=row.key_id is not None,
        exportable=row.exportable,
        source=CertificateSource(row.source),
        status=CertificateStatus(row.status),
        pem=row.pem,
        chain_pem=row.chain_pem or "",
        revoked_at=row.revoked_at,
        revocation_reason=RevocationReason(row.revocation_reason) if row.revocation_reason else None,
        issuing_ca_id=row.issuing_ca_id,
        tags=dict(row.tags or {}),
        created_at=row.created_at,
        number=row.id,
    )


def _row_values(certificate: Certificate, key_id: int | None) -> dict[str, Any]:
    """The certificates row of a domain certificate (its sealed key already stored as ``key_id``)."""
    return {
        "identifier": certificate.identifier,
        "account_id": certificate.account_id,
        "repository_id": certificate.repository_id,
        "name": certificate.name,
        "custom_identifier": certificate.custom_identifier,
        "common_name": certificate.common_name,
        "sans": [{"type": s.type, "value": s.value} for s in certificate.sans],
        "search_text": search_text_of(certificate),
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial_number": certificate.serial_number,
        "not_before": certificate.not_before,
        "not_after": certificate.not_after,
        "key_algorithm": certificate.key_algorithm,
        "key_size": certificate.key_size,
        "signature_algorithm": certificate.signature_algorithm,
        "fingerprint_sha1": certificate.fingerprint_sha1,
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "is_ca": certificate.is_ca,
        "key_id": key_id,
        "exportable": certificate.exportable,
        "source": certificate.source.value,
        "status": certificate.status.value,
        "revoked_at": certificate.revoked_at,
        "revocation_reason": certificate.revocation_reason.value if certificate.revocation_reason else None,
        "issuing_ca_id": certificate.issuing_ca_id,
        "pem": certificate.pem,
        "chain_pem": certificate.chain_pem,
        "tags": dict(certificate.tags),
        "created_at": certificate.created_at,
    }


def _key_values(sealed: SealedSecret, *, purpose: str, now: datetime) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "ciphertext": sealed.ciphertext,
        "nonce": sealed.nonce,
        "wrapped_key": sealed.wrapped_key,
        "wrap_nonce": sealed.wrap_nonce,
        "master_version": sealed.master_version,
        "created_at": now,
    }


def _already_stored(certificate: Certificate, existing_identifier: str) -> DuplicateCertificate:
    return DuplicateCertificate(
        f"this certificate is already in repository {certificate.repository_id} as {existing_identifier}",
        details={"identifier": existing_identifier},
    )


def _custom_identifier_taken(custom_identifier: str) -> InvalidInput:
    return InvalidInput(
        f"custom identifier {custom_identifier!r} is already used in this account",
        details={"field": "custom_identifier"},
    )


# A new certificate and its sealed private key (None without one), as add_many takes them.
NewCertificate = tuple[Certificate, SealedSecret | None]


def _unique_key(certificate: Certificate) -> tuple[int, str]:
    return certificate.repository_id, certificate.fingerprint_sha256


def _first_refusal(
    group: Sequence[Certificate], stored_as: dict[tuple[int, str], str], taken: set[tuple[int, str]]
) -> CertrepoError | None:
    """What ``add`` would raise for the first refused certificate of a group, given what is stored."""
    in_group: dict[tuple[int, str], str] = {}
    for certificate in group:
        key = _unique_key(certificate)
        existing = stored_as.get(key) or in_group.get(key)
        if existing is not None:
            return _already_stored(certificate, existing)
        in_group[key] = certificate.identifier
        if certificate.custom_identifier and (certificate.account_id, certificate.custom_identifier) in taken:
            return _custom_identifier_taken(certificate.custom_identifier)
    return None


class CertificateStore(_Store):
    async def add(self, certificate: Certificate, *, key_id: int | None) -> Certificate:
        """Insert; the same certificate twice in a repository (or a taken custom identifier) is refused."""
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    insert(certificates)
                    .values(**_row_values(certificate, key_id))
                    .returning(certificates.c.id)
                )
        except IntegrityError as exc:
            await self._raise_duplicate(certificate, exc)
            raise
        return replace(certificate, number=int(result.scalar_one()))

    async def _raise_duplicate(self, certificate: Certificate, exc: IntegrityError) -> None:
        existing = await self.find_by_fingerprint(certificate.repository_id, certificate.fingerprint_sha256)
        if existing is not None:
            raise _already_stored(certificate, existing.identifier) from exc
        if certificate.custom_identifier and "custom" in str(exc.orig).lower():
            raise _custom_identifier_taken(certificate.custom_identifier) from exc

    # --- bulk insert: many certificates and their keys in a few statements -------------------------------

    async def add_many(
        self, groups: Sequence[Sequence[NewCertificate]], *, key_purpose: str, now: datetime
    ) -> builtins.list[builtins.list[Certificate] | CertrepoError]:
        """Insert groups of new certificates, each with its sealed key; a group is stored whole or not at all.

        Per group, in order: its stored certificates, or the error ``add`` raises for the first one refused
        (DuplicateCertificate naming the certificate already in the repository, also one an earlier group
        of this call stores; InvalidInput for a custom identifier already used in the account). The screen
        reads the existing fingerprints and custom identifiers in one query each; the accepted groups' keys,
        then rows, are inserted as one executemany each (the schema's triggers keep the search index and the
        counters). Raises IntegrityError only for what ``add`` would raise it for."""
        refusals = await self._screen(groups)
        accepted = [
            entry
            for group, refusal in zip(groups, refusals, strict=True)
            if refusal is None
            for entry in group
        ]
        # Rows go in in the order of their unique key, so that two batches holding some of the same
        # certificates wait for each other instead of deadlocking (PostgreSQL locks a unique entry per row).
        order = sorted(range(len(accepted)), key=lambda i: _unique_key(accepted[i][0]))
        try:
            async with self._session.begin_nested():
                inserted = await self._insert([accepted[i] for i in order], key_purpose, now)
        except IntegrityError:
            # Another transaction stored one of them since the screen (PostgreSQL, READ COMMITTED: an upload
            # on another node; SQLite writers are serialised). Then group after group, each in a savepoint
            # of its own, so that the database's refusal lands on its group alone.
            return [await self._add_group(group, key_purpose, now) for group in groups]
        stored: builtins.list[Certificate] = [*inserted]
        for position, index in enumerate(order):
            stored[index] = inserted[position]
        results: builtins.list[builtins.list[Certificate] | CertrepoError] = []
        position = 0
        for group, refusal in zip(groups, refusals, strict=True):
            if refusal is not None:
                results.append(refusal)
            else:
                results.append(stored[position : position + len(group)])
                position += len(group)
        return results

    async def _screen(
        self, groups: Sequence[Sequence[NewCertificate]]
    ) -> builtins.list[CertrepoError | None]:
        """Per group, the refusal ``add`` would meet if the groups were inserted one after the other."""
        entries = [certificate for group in groups for certificate, _ in group]
        stored_as = await self._stored_fingerprints(entries)
        taken = await self._taken_custom_identifiers(entries)
        refusals: builtins.list[CertrepoError | None] = []
        for group in groups:
            refusal = _first_refusal([c for c, _ in group], stored_as, taken)
            if refusal is None:  # stored by this call: later groups see it as already there
                for certificate, _ in group:
                    stored_as[_unique_key(certificate)] = certificate.identifier
                    if certificate.custom_identifier:
                        taken.add((certificate.account_id, certificate.custom_identifier))
            refusals.append(refusal)
        return refusals

    async def _stored_fingerprints(self, entries: Sequence[Certificate]) -> dict[tuple[int, str], str]:
        """(repository id, SHA-256 fingerprint) -> identifier of the stored certificates among ``entries``."""
        wanted: dict[int, set[str]] = {}
        for certificate in entries:
            wanted.setdefault(certificate.repository_id, set()).add(certificate.fingerprint_sha256)
        found: dict[tuple[int, str], str] = {}
        for repository_id, fingerprints in wanted.items():
            rows = await self._session.execute(
                select(certificates.c.fingerprint_sha256, certificates.c.identifier).where(
                    certificates.c.repository_id == repository_id,
                    certificates.c.fingerprint_sha256.in_(sorted(fingerprints)),
                )
            )
            found.update({(repository_id, r.fingerprint_sha256): r.identifier for r in rows})
        return found

    async def _taken_custom_identifiers(self, entries: Sequence[Certificate]) -> set[tuple[int, str]]:
        wanted: dict[int, set[str]] = {}
        for certificate in entries:
            if certificate.custom_identifier:
                wanted.setdefault(certificate.account_id, set()).add(certificate.custom_identifier)
        taken: set[tuple[int, str]] = set()
        for account_id, names in wanted.items():
            rows = await self._session.execute(
                select(certificates.c.custom_identifier).where(
                    certificates.c.account_id == account_id,
                    certificates.c.custom_identifier.in_(sorted(names)),
                )
            )
            taken.update((account_id, r.custom_identifier) for r in rows)
        return taken

    async def _insert(
        self, entries: Sequence[NewCertificate], key_purpose: str, now: datetime
    ) -> builtins.list[Certificate]:
        """Keys, then rows, each one statement over all of them; their ids in the order given."""
        if not entries:
            return []
        with_keys = [sealed for _, sealed in entries if sealed is not None]
        key_ids = iter(
            await self._insert_all(
                key_material, [_key_values(s, purpose=key_purpose, now=now) for s in with_keys]
            )
        )
        rows = [_row_values(c, next(key_ids) if sealed is not None else None) for c, sealed in entries]
        numbers = await self._insert_all(certificates, rows)
        return [replace(c, number=n) for (c, _), n in zip(entries, numbers, strict=True)]

    async def _insert_all(self, into: Any, rows: Sequence[dict[str, Any]]) -> builtins.list[int]:
        """Insert ``rows``; their ids, in the order of ``rows``."""
        if not rows:
            return []
        if self._dialect() != "sqlite":
            # Multi-row INSERT … RETURNING; sort_by_parameter_order keeps ids in the order of ``rows``.
            result = await self._session.execute(
                insert(into).returning(into.c.id, sort_by_parameter_order=True), rows
            )
            return [int(i) for i in result.scalars()]
        # SQLite's RETURNING order is unspecified, so SQLAlchemy would insert row by row to keep it (~20% of
        # the insert's time). Instead: one executemany, then read the ids back. A write unit of work holds
        # SQLite's one write lock from BEGIN IMMEDIATE on, so the rows after the table's last id are exactly
        # these, and SQLite gives each new row an id above every id before it: in insertion order.
        last = (await self._session.execute(select(func.max(into.c.id)))).scalar_one_or_none() or 0
        await self._session.execute(insert(into), rows)
        ids = (
            await self._session.execute(select(into.c.id).where(into.c.id > last).order_by(into.c.id))
        ).all()
        if len(ids) != len(rows):
            raise RuntimeError(
                f"{into.name}: {len(rows)} rows inserted, {len(ids)} read back (no write lock held?)"
            )
        return [int(r.id) for r in ids]

    async def _add_group(
        self, group: Sequence[NewCertificate], key_purpose: str, now: datetime
    ) -> builtins.list[Certificate] | CertrepoError:
        """One group in a savepoint of its own, the way ``add`` stores one certificate."""
        try:
            async with self._session.begin_nested():
                stored = []
                for certificate, sealed in group:
                    key_id = None
                    if sealed is not None:
                        key_id = (
                            await self._insert_all(
                                key_material, [_key_values(sealed, purpose=key_purpose, now=now)]
                            )
                        )[0]
                    stored.append(await self.add(certificate, key_id=key_id))
                return stored
        except (DuplicateCertificate, InvalidInput) as exc:
            return exc

    async def find_by_fingerprint(self, repository_id: int, fingerprint_sha256: str) -> Certificate | None:
        row = await self._one(
            select(certificates).where(
                and_(
                    certificates.c.repository_id == repository_id,
                    certificates.c.fingerprint_sha256 == fingerprint_sha256,
                )
            )
        )
        return _certificate(row) if row else None

    async def get_by_number(self, number: int) -> Certificate | None:
        """By row id (Alibaba's integer CertId)."""
        row = await self._one(select(certificates).where(certificates.c.id == number))
        return _certificate(row) if row else None

    async def get(self, identifier: str) -> Certificate | None:
        row = await self._one(select(certificates).where(certificates.c.identifier == identifier))
        return _certificate(row) if row else None

    async def get_by_custom_identifier(self, account_id: int, custom_identifier: str) -> Certificate | None:
        row = await self._one(
            select(certificates).where(
                and_(
                    certificates.c.account_id == account_id,
                    certificates.c.custom_identifier == custom_identifier,
                )
            )
        )
        return _certificate(row) if row else None

    async def sealed_key(self, identifier: str) -> tuple[int, SealedSecret] | None:
        """The key id and sealed private key of a certificate, for the keystore to open."""
        row = await self._one(
            select(key_material)
            .join(certificates, certificates.c.key_id == key_material.c.id)
            .where(certificates.c.identifier == identifier)
        )
        return (int(row.id), sealed_secret_of(row)) if row else None

    # --- search: one page and its exact total ----------------------------------------------------------

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    async def _keyword_condition(self, keyword: str) -> Any:
        """The keyword part of a search, per database: the one place that picks a strategy.

        PostgreSQL: ``LIKE '%kw%'`` over the search text, which the pg_trgm GIN index serves directly.
        SQLite: candidates from the FTS5 trigram index, confirmed by an exact ``instr`` on the search text.
        Keywords under three characters hold no trigram: they fall back to LIKE over the repository's rows
        (a scan of that repository, on both databases)."""
        like = certificates.c.search_text.contains(keyword, autoescape=True)
        if self._dialect() != "sqlite" or len(keyword) < _MIN_TRIGRAM_KEYWORD or "\x00" in keyword:
            return like  # (a NUL would end FTS5's query string early: such a keyword takes the LIKE path)
        terms = await self._selective_trigrams(keyword)
        candidates = select(_search_index.c.rowid).where(
            _search_index.c.certificates_search.op("MATCH")(" AND ".join(_fts_string(t) for t in terms))
        )
        # Every row holding the keyword holds each of its trigrams, so the candidates are a superset;
        # instr() keeps exactly the rows that contain the keyword (both sides are lower-case).
        return and_(certificates.c.id.in_(candidates), func.instr(certificates.c.search_text, keyword) > 0)

    async def _selective_trigrams(self, keyword: str) -> list[str]:
        """The keyword's most selective trigrams, probed in the FTS index in one round trip.

        FTS5 reads the whole posting list of every term of an AND: a trigram found in most rows ("hos" of
        host names, ".co" of domains) costs as much as a scan, while two or three rare ones narrow the
        candidates to a handful. Each probe reads at most _PROBE_CAP postings of one trigram."""
        trigrams = _trigrams(keyword)
        probes = []
        for position, trigram in enumerate(trigrams):
            postings = (
                select(_search_index.c.rowid)
                .where(_search_index.c.certificates_search.op("MATCH")(_fts_string(trigram)))
                .limit(_PROBE_CAP)
                .subquery()
            )
            probes.append(
                select(
                    literal(position), func.count(), func.min(postings.c.rowid), func.max(postings.c.rowid)
                ).select_from(postings)
            )
        rows = (await self._session.execute(union_all(*probes))).all()
        return _choose_trigrams([(trigrams[r[0]], r[1], r[2], r[3]) for r in rows])

    async def _conditions(self, repository_id: int, query: CertificateQuery) -> Any:
        condition = certificates.c.repository_id == repository_id
        if query.keyword:
            condition = and_(condition, await self._keyword_condition(query.keyword.lower()))
        if query.status is not None:
            condition = and_(condition, certificates.c.status == query.status.value)
        if query.is_ca is not None:
            condition = and_(condition, certificates.c.is_ca == query.is_ca)
        if query.source is not None:
            condition = and_(condition, certificates.c.source == query.source.value)
        if query.now is not None and query.expiring_within_days is not None:
            horizon = query.now + timedelta(days=query.expiring_within_days)
            condition = and_(
                condition, certificates.c.not_after >= query.now, certificates.c.not_after <= horizon
            )
        if query.now is not None and query.expired is not None:
            not_after = certificates.c.not_after
            condition = and_(condition, not_after < query.now if query.expired else not_after >= query.now)
        return condition

    def _count_statement(self, repository_id: int, query: CertificateQuery, condition: Any) -> Any:
        """Exact totals. The whole repository, or one status of it, is read from the counters the schema's
        triggers keep (COUNT(*) over a million index entries takes a tenth of a second on SQLite); any
        other filter is counted through its index, so the cost follows the size of the filtered set."""
        if _only_status(query):
            statement = select(func.coalesce(func.sum(_counts.c.total), 0)).where(
                _counts.c.repository_id == repository_id
            )
            if query.status is not None:
                statement = statement.where(_counts.c.status == query.status.value)
            return statement
        return select(func.count()).select_from(certificates).where(condition)

    def _page_statement(self, condition: Any, page: Page) -> Any:
        """One page, newest first. Deferred join: filter, order and offset run on ids (index-only where an
        index covers them) and only the page's rows are read whole."""
        ids = (
            select(certificates.c.id)
            .where(condition)
            .order_by(certificates.c.id.desc())
            .offset(page.offset)
            .limit(page.size)
            .subquery()
        )
        return select(certificates).join(ids, ids.c.id == certificates.c.id).order_by(certificates.c.id.desc())

    def _keyword_page_statement(self, condition: Any, page: Page) -> Any:
        """One page and the number of matches of a keyword search, from one evaluation of the keyword.

        The matching ids are a materialised CTE: the database finds them once, through the trigram index,
        and counts and pages them. Left to itself, PostgreSQL may instead walk the (id) index backwards and
        test every row of the repository, to save sorting a result it wrongly estimates as large."""
        matching = select(certificates.c.id).where(condition).cte("matching").prefix_with("MATERIALIZED")
        ids = select(matching.c.id).order_by(matching.c.id.desc()).offset(page.offset).limit(page.size).subquery()
        total = select(func.count()).select_from(matching).scalar_subquery().label("matches")
        return (
            select(certificates, total).join(ids, ids.c.id == certificates.c.id).order_by(certificates.c.id.desc())
        )

    async def list(
        self, repository_id: int, query: CertificateQuery, page: Page
    ) -> tuple[list[Certificate], int]:
        """One page of a repository's certificates, newest first, and the exact number of matches."""
        condition = await self._conditions(repository_id, query)
        if query.keyword:
            rows = (await self._session.execute(self._keyword_page_statement(condition, page))).all()
            if rows:
                return [_certificate(r) for r in rows], int(rows[0].matches)
            if page.offset == 0:
                return [], 0
            # A page past the end returns no row to carry the total: count on its own.
        counted = await self._session.execute(self._count_statement(repository_id, query, condition))
        total = int(counted.scalar_one())
        if query.keyword or page.offset >= total:
            return [], total
        rows = (await self._session.execute(self._page_statement(condition, page))).all()
        return [_certificate(r) for r in rows], total

    async def all_in_repository(
        self, repository_id: int, *, is_ca: bool | None = None
    ) -> builtins.list[Certificate]:
        condition = certificates.c.repository_id == repository_id
        if is_ca is not None:
            condition = and_(condition, certificates.c.is_ca == is_ca)
        rows = await self._session.execute(select(certificates).where(condition).order_by(certificates.c.id))
        return [_certificate(r) for r in rows]

    async def delete(self, identifier: str) -> int | None:
        """Remove a certificate; returns its key id so the caller destroys the key in the same transaction."""
        row = await self._one(select(certificates.c.key_id).where(certificates.c.identifier == identifier))
        await self._session.execute(delete(certificates).where(certificates.c.identifier == identifier))
        return row.key_id if row else None

    async def mark_revoked(self, identifier: str, *, at: datetime, reason: RevocationReason) -> None:
        await self._session.execute(
            update(certificates)
            .where(certificates.c.identifier == identifier)
            .values(status=CertificateStatus.REVOKED.value, revoked_at=at, revocation_reason=reason.value)
        )

    async def expiring(
        self, account_id: int, *, now: datetime, within_days: int, limit: int
    ) -> builtins.list[Certificate]:
        """Certificates of an account expiring within the horizon, soonest first (across repositories)."""
        rows = await self._session.execute(
            select(certificates)
            .where(
                and_(
                    certificates.c.account_id == account_id,
                    certificates.c.not_after <= now + timedelta(days=within_days),
                    or_(certificates.c.status == CertificateStatus.ISSUED.value),
                )
            )
            .order_by(certificates.c.not_after)
            .limit(limit)
        )
        return [_certificate(r) for r in rows]

    async def count_by_identifiers(self, identifiers: Sequence[str]) -> int:
        return int(
            (
                await self._session.execute(
                    select(func.count()).where(certificates.c.identifier.in_(list(identifiers)))
                )
            ).scalar_one()
        )
