"""Bulk import of a folder: pair certificates with their keys locally, upload in batches, report refusals.

Certificates travel in batches (``POST …/certificates/batch``, a few requests at once); the server answers
each item as its single upload would and stores each atomically (certificate and key, or neither), so a
refused item leaves nothing behind and a re-run imports what is missing: duplicates are reported as already
present, not as failures.

When the server goes away mid-import (crash, restart, network), every file whose upload was not confirmed
is listed as unreachable with why: those in flight may or may not have been stored (their answer was lost),
the rest were not sent (after the first connection failure nothing more is attempted). A re-run after the
server is back imports exactly those, and reports the ones that had been stored as already present."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.progress import Progress

from ..client import ApiError, Client

__all__ = ["ImportSummary", "import_folder"]

# Exit codes of `certrepo cert import`, as for every CLI command: 1 refused by the server, 2 not reached.
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

# Batches: the server takes at most 100 items per request and bodies up to CERTREPO_MAX_BODY_BYTES (1 MiB by
# default; a smaller limit answers 413 and the batch is split). A few requests at once keep every server
# worker checking one batch while another waits for the database; more only add contention in a worker
# (measured on 2 workers: 2-4 requests of 100 items best, 8 of 50 ~25% slower).
MAX_BATCH_ITEMS = 100
BATCH_BODY_BYTES = 768 * 1024
MAX_CONCURRENT_REQUESTS = 4
_JSON = {"Content-Type": "application/json"}


@dataclass
class _Item:
    path: Path
    certificate: str
    private_key: str | None = None
    is_pkcs12: bool = False


# A batch: each file with its upload body, as JSON.
_Batch = list[tuple[_Item, str]]


@dataclass
class ImportSummary:
    imported: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    unpaired_keys: list[str] = field(default_factory=list)
    # path -> why it is not confirmed as imported: the server could not be reached (re-run to import).
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every certificate is stored; EXIT_UNREACHABLE when some were not confirmed because the
        server could not be reached (a re-run resumes), else EXIT_REFUSED when some were refused."""
        if self.unreachable:
            return EXIT_UNREACHABLE
        return EXIT_REFUSED if self.refused else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "already_present": self.already_present,
            "refused": self.refused,
            "unpaired_keys": self.unpaired_keys,
            "unreachable": self.unreachable,
        }

    def print(self, console: Console) -> None:
        console.print(f"imported {len(self.imported)}, already present {len(self.already_present)}, "
                      f"refused {len(self.refused)}, not reached {len(self.unreachable)}")
        for path, reason in sorted(self.refused.items()):
            console.print(f"  [red]refused[/red] {path}: {reason}")
        for path in self.unpaired_keys:
            console.print(f"  [yellow]no certificate for key[/yellow] {path}")
        for path, reason in sorted(self.unreachable.items()):
            console.print(f"  [red]not imported[/red] {path}: {reason}")
        if self.unreachable:
            console.print("run the same import again when the server is back: it imports only what is missing")


class _Pairing:
    """Pairs each key with the first certificate (in folder order) whose public key it holds, as the files
    come: a certificate is ready once its key is found, or, if none is, when the scan ends."""

    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[Path, str]] = {}
        self._waiting: dict[bytes, list[_Item]] = {}  # certificates whose key has not been seen (yet)

    def certificate(self, item: _Item, spki: bytes | None) -> list[_Item]:
        if spki is None:
            return [item]
        if spki in self._keys:
            item.private_key = self._keys.pop(spki)[1]
            return [item]
        self._waiting.setdefault(spki, []).append(item)
        return []

    def key(self, spki: bytes, path: Path, text: str) -> list[_Item]:
        waiting = self._waiting.get(spki)
        if not waiting:
            self._keys[spki] = (path, text)
            return []
        item = waiting.pop(0)
        item.private_key = text
        return [item]

    def finish(self, summary: ImportSummary) -> list[_Item]:
        """The certificates no key was found for; the keys no certificate was found for go in the summary."""
        summary.unpaired_keys = [str(p) for p, _ in self._keys.values()]
        return sorted((item for items in self._waiting.values() for item in items), key=lambda i: i.path)


def _scan(folder: Path, summary: ImportSummary) -> Iterator[_Item]:
    """Classify files and pair keys with certificates; yields each certificate as soon as it is ready, so
    that uploads start while the rest of the folder is read."""
    pairing = _Pairing()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        if path.suffix.lower() in (".p12", ".pfx"):
            yield _Item(path, base64.b64encode(raw).decode(), is_pkcs12=True)
        elif "PRIVATE KEY-----" in text and "CERTIFICATE-----" not in text:
            try:
                # Only to pair it by its public key (the server checks the key in full): RSA's key
                # validation (prime checks) costs ~35 ms of CPU per 2048-bit key, measured here.
                key = serialization.load_pem_private_key(raw, None, unsafe_skip_rsa_key_validation=True)
                yield from pairing.key(key.public_key().public_bytes(*_SPKI), path, text)
            except (ValueError, TypeError):
                # Encrypted or odd: no certificate pairs with it; listed as unpaired.
                pairing.key(path.name.encode(), path, text)
        elif "CERTIFICATE-----" in text:
            yield from pairing.certificate(_Item(path, text), _spki_of_first(raw))
        else:
            try:
                cert = x509.load_der_x509_certificate(raw)
            except ValueError:
                summary.refused[str(path)] = "not a certificate, key or PKCS#12 file"
                continue
            item = _Item(path, base64.b64encode(raw).decode())
            yield from pairing.certificate(item, cert.public_key().public_bytes(*_SPKI))
    yield from pairing.finish(summary)


def _spki_of_first(raw: bytes) -> bytes | None:
    try:
        return x509.load_pem_x509_certificates(raw)[0].public_key().public_bytes(*_SPKI)
    except ValueError:
        return None


def _unreached_reason(exc: ApiError) -> str:
    """Not sent (no connection) or sent without an answer: then it may have been stored, and a re-run
    reports it as already present."""
    if isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout):
        return f"not sent: {exc.message}"
    return f"sent, but no answer came (stored or not: a re-run tells): {exc.message}"


@dataclass(frozen=True)
class _Outcome:
    """One file's upload: its new identifier, or already present, or why refused, or why not reached."""

    item: _Item
    identifier: str | None = None
    exists: bool = False
    refused: str | None = None
    unreached: str | None = None

    def record(self, summary: ImportSummary) -> None:
        path = str(self.item.path)
        if self.identifier:
            summary.imported.append(self.identifier)
        elif self.unreached:
            summary.unreachable[path] = self.unreached
        elif self.exists:
            summary.already_present.append(path)
        else:
            summary.refused[path] = self.refused or "refused"


def _body(item: _Item, *, password: str | None, exportable: bool) -> dict[str, Any]:
    """The single-upload body of one file (a batch carries a list of them)."""
    body: dict[str, Any] = {
        "certificate": item.certificate,
        "exportable": exportable and (item.private_key is not None or item.is_pkcs12),
    }
    if item.private_key:
        body["private_key"] = item.private_key
    if password:
        body["password"] = password
    return body


def _batches(
    items: Iterable[_Item], bodies: Callable[[_Item], dict[str, Any]], *, size: int
) -> Iterator[_Batch]:
    """Batches of at most ``size`` items and about BATCH_BODY_BYTES of JSON each (a larger item goes alone),
    in the order the items come."""
    batch: _Batch = []
    batch_bytes = 0
    for item in items:
        body = json.dumps(bodies(item))
        if batch and (len(batch) >= size or batch_bytes + len(body) + 1 > BATCH_BODY_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((item, body))
        batch_bytes += len(body) + 1
    if batch:
        yield batch


def _answer(item: _Item, answer: dict[str, Any]) -> _Outcome:
    """One item's answer in a batch response, read as the single upload's answer would be."""
    if answer.get("status") == 201:
        return _Outcome(item, identifier=answer["certificates"][0]["identifier"])
    error = answer.get("error") or {}
    if error.get("code") == "CertificateExists":
        return _Outcome(item, exists=True)
    return _Outcome(item, refused=f"{error.get('code', 'refused')}: {error.get('message', '')}")


class _Uploader:
    """Sends batches to ``POST …/certificates/batch`` and turns answers into outcomes, one per file."""

    def __init__(self, client: Client, repository_id: int) -> None:
        self._client = client
        self._path = f"/v1/repositories/{repository_id}/certificates/batch"
        self.server_gone = threading.Event()

    def send(self, batch: _Batch) -> list[_Outcome]:
        items = [item for item, _ in batch]
        if self.server_gone.is_set():
            reason = "not sent: the server could not be reached earlier in this import"
            return [_Outcome(item, unreached=reason) for item in items]
        try:
            # The items are JSON already (measured for the body budget): joined, not encoded again.
            content = '{"items":[' + ",".join(body for _, body in batch) + "]}"
            result = self._client.request("POST", self._path, content=content, headers=_JSON)
        except ApiError as exc:
            if exc.status == 0:
                self.server_gone.set()  # stop sending: the files left are listed, and a re-run resumes
                return [_Outcome(item, unreached=_unreached_reason(exc)) for item in items]
            if exc.status == 413 and len(batch) > 1:  # the server takes smaller bodies: halve and retry
                middle = len(batch) // 2
                return self.send(batch[:middle]) + self.send(batch[middle:])
            # The whole request was refused (the repository, the caller's rights): each file is.
            return [_Outcome(item, refused=f"{exc.code}: {exc.message}") for item in items]
        return [_answer(item, answer) for item, answer in zip(items, result["items"], strict=True)]


def _pipeline(in_flight: int) -> tuple[int, int]:
    """(concurrent requests, items per batch) for at most ``in_flight`` certificates sent and unanswered."""
    requests = max(1, min(MAX_CONCURRENT_REQUESTS, in_flight))
    return requests, max(1, min(MAX_BATCH_ITEMS, in_flight // requests))


def import_folder(
    client: Client, folder: Path, *, repository_id: int, password: str | None, workers: int, exportable: bool
) -> ImportSummary:
    """Upload every certificate of ``folder`` (with its paired key) into the repository; never raises for
    one file: each outcome lands in the summary (imported, already present, refused, unreachable).

    ``workers`` is how many certificates may be on their way at once (sent and not yet answered): they
    travel in batches, on a few concurrent requests. It also bounds how many files a crash of the server
    can leave unconfirmed yet stored."""
    summary = ImportSummary()
    requests, size = _pipeline(workers)
    uploader = _Uploader(client, repository_id)
    with Progress(transient=True) as progress, ThreadPoolExecutor(max_workers=requests) as pool:
        task = progress.add_task("importing", total=None)  # known once the folder is read
        bodies = partial(_body, password=password, exportable=exportable)
        futures, queued = [], 0
        for batch in _batches(_scan(folder, summary), bodies, size=size):
            futures.append(pool.submit(uploader.send, batch))  # sent while the rest of the folder is read
            queued += len(batch)
            progress.update(task, total=queued)
        for future in as_completed(futures):
            outcomes = future.result()
            for outcome in outcomes:
                outcome.record(summary)
            progress.advance(task, len(outcomes))
    return summary
