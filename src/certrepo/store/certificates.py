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
from certrepo.domain.errors import DuplicateCertificate, InvalidInput
from certrepo.domain.paging import Page
from certrepo.keystore.base import SealedSecret

from .stores import _Store, sealed_secret_of
from .tables import certificates, key_material

__all__ = ["CertificateStore", "search_text_of"]

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


class CertificateStore(_Store):
    async def add(self, certificate: Certificate, *, key_id: int | None) -> Certificate:
        """Insert; the same certificate twice in a repository (or a taken custom identifier) is refused."""
        values = {
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
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    insert(certificates).values(**values).returning(certificates.c.id)
                )
        except IntegrityError as exc:
            await self._raise_duplicate(certificate, exc)
            raise
        return replace(certificate, number=int(result.scalar_one()))

    async def _raise_duplicate(self, certificate: Certificate, exc: IntegrityError) -> None:
        existing = await self.find_by_fingerprint(certificate.repository_id, certificate.fingerprint_sha256)
        if existing is not None:
            raise DuplicateCertificate(
                f"this certificate is already in repository {certificate.repository_id} "
                f"as {existing.identifier}",
                details={"identifier": existing.identifier},
            ) from exc
        if certificate.custom_identifier and "custom" in str(exc.orig).lower():
            raise InvalidInput(
                f"custom identifier {certificate.custom_identifier!r} is already used in this account",
                details={"field": "custom_identifier"},
            ) from exc

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
