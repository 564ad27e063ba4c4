"""Audit events and their hash chain (SPEC §1.4): an edit or deletion of a stored event is detectable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .enums import QuotaPool

__all__ = ["CACHE_NEUTRAL_ACTIONS", "GENESIS_HASH", "AuditEvent", "ChainBreak", "ChainVerifier", "KeyUseRecord", "chain_hash", "find_chain_break", "invalidates_caches"]

GENESIS_HASH = "0" * 64

# Audited actions that cannot make a cached principal or key-use target stale: they only add things
# (a cache never holds a negative answer) or use keys. Every other mutation advances the mutation epoch.
CACHE_NEUTRAL_ACTIONS = frozenset(
    {
        "certificate.upload",
        "certificate.issue",
        "certificate.export_key",
        "repository.create",
        "access_key.create",
        "account.create",
        "account.bootstrap",
        "user.create",
        "user.sign_in",  # a lockout changes password sign-in only, which no cache holds
        "ca.create",
        "ca.import",
    }
)


def invalidates_caches(action: str) -> bool:
    """Whether an event of ``action`` must advance the mutation epoch (see services/hotcache.py)."""
    return not action.startswith("key.") and action not in CACHE_NEUTRAL_ACTIONS


@dataclass(frozen=True)
class AuditEvent:
    """One mutation or key use. Never carries message contents, keys or secrets."""

    account_id: int
    at: datetime
    actor: str
    action: str
    outcome: str = "success"
    request_id: str | None = None
    repository_id: int | None = None
    certificate_id: str | None = None
    algorithm: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def refused(self, code: str) -> AuditEvent:
        """The same key use, recorded as refused with the error code (e.g. its quota was used up)."""
        return replace(self, outcome="refused", details={**self.details, "error": code})

    def canonical(self) -> bytes:
        """The bytes the chain hashes: every field but id and hashes, in a fixed JSON form."""
        body = {
            "account_id": self.account_id,
            "at": self.at.isoformat(timespec="microseconds"),
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "repository_id": self.repository_id,
            "certificate_id": self.certificate_id,
            "algorithm": self.algorithm,
            "details": dict(self.details),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class KeyUseRecord:
    """What one key use writes: a unit of the account's quota pool (None: nothing to consume, e.g. a call
    refused before the operation) and its audit event."""

    account_id: int
    pool: QuotaPool | None
    event: AuditEvent


def chain_hash(prev_hash: str, event: AuditEvent, sequence: int) -> str:
    """sha256(prev_hash | sequence | canonical event): the sequence makes a deleted row a broken link."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(b"|%d|" % sequence)
    digest.update(event.canonical())
    return digest.hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


class ChainVerifier:
    """Checks events one at a time, in sequence order, so a long chain streams through memory."""

    def __init__(self) -> None:
        self.expected_prev = GENESIS_HASH
        self.expected_sequence = 1

    @property
    def count(self) -> int:
        return self.expected_sequence - 1

    def feed(self, sequence: int, event: AuditEvent) -> ChainBreak | None:
        if sequence != self.expected_sequence:
            return ChainBreak(self.expected_sequence, f"event {self.expected_sequence} is missing")
        if event.prev_hash != self.expected_prev:
            return ChainBreak(sequence, f"event {sequence} does not link to event {sequence - 1}")
        if event.hash != chain_hash(self.expected_prev, event, sequence):
            return ChainBreak(sequence, f"event {sequence} was altered after it was written")
        self.expected_prev = event.hash
        self.expected_sequence += 1
        return None

    def check_head(self, head_sequence: int, head_hash: str) -> ChainBreak | None:
        """The head row names the last event: a deleted tail shows up here."""
        if head_sequence != self.count or head_hash != self.expected_prev:
            return ChainBreak(
                self.count + 1,
                f"the chain ends at event {self.count} but its head names event {head_sequence}",
            )
        return None


def find_chain_break(events: Iterable[tuple[int, AuditEvent]]) -> ChainBreak | None:
    """Walk (sequence, event) pairs in order; return the first broken link or None."""
    verifier = ChainVerifier()
    for sequence, event in events:
        broken = verifier.feed(sequence, event)
        if broken is not None:
            return broken
    return None
