"""Bulk import of a folder: pair certificates with their keys locally, upload in parallel, report refusals.

Each certificate is one upload request, which the server stores atomically (certificate and key, or
neither), so a refused item leaves nothing behind and a re-run imports what is missing: duplicates are
reported as already present, not as failures.

When the server goes away mid-import (crash, restart, network), every file whose upload was not confirmed
is listed as unreachable with why: those in flight may or may not have been stored (their answer was lost),
the rest were not sent (after the first connection failure nothing more is attempted). A re-run after the
server is back imports exactly those, and reports the ones that had been stored as already present."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
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


@dataclass
class _Item:
    path: Path
    certificate: str
    private_key: str | None = None
    is_pkcs12: bool = False


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


def _scan(folder: Path, summary: ImportSummary) -> list[_Item]:
    """Classify files; pair each key with the certificate whose public key it holds."""
    certificates: list[tuple[_Item, bytes | None]] = []
    keys: dict[bytes, tuple[Path, str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        if path.suffix.lower() in (".p12", ".pfx"):
            certificates.append((_Item(path, base64.b64encode(raw).decode(), is_pkcs12=True), None))
        elif "PRIVATE KEY-----" in text and "CERTIFICATE-----" not in text:
            try:
                key = serialization.load_pem_private_key(raw, None)
                keys[key.public_key().public_bytes(*_SPKI)] = (path, text)
            except (ValueError, TypeError):
                keys[path.name.encode()] = (path, text)  # encrypted or odd: the server says what is wrong
        elif "CERTIFICATE-----" in text:
            certificates.append((_Item(path, text), _spki_of_first(raw)))
        else:
            try:
                cert = x509.load_der_x509_certificate(raw)
                certificates.append(
                    (_Item(path, base64.b64encode(raw).decode()), cert.public_key().public_bytes(*_SPKI))
                )
            except ValueError:
                summary.refused[str(path)] = "not a certificate, key or PKCS#12 file"
    items = []
    for item, spki in certificates:
        if spki is not None and spki in keys:
            item.private_key = keys.pop(spki)[1]
        items.append(item)
    summary.unpaired_keys = [str(p) for p, _ in keys.values()]
    return items


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


def import_folder(
    client: Client, folder: Path, *, repository_id: int, password: str | None, workers: int, exportable: bool
) -> ImportSummary:
    """Upload every certificate of ``folder`` (with its paired key) into the repository; never raises for
    one file: each outcome lands in the summary (imported, already present, refused, unreachable)."""
    summary = ImportSummary()
    items = _scan(folder, summary)
    server_gone = threading.Event()

    def upload(item: _Item) -> _Outcome:
        if server_gone.is_set():
            return _Outcome(item, unreached="not sent: the server could not be reached earlier in this import")
        body: dict[str, Any] = {"certificate": item.certificate, "exportable": exportable and (item.private_key is not None or item.is_pkcs12)}
        if item.private_key:
            body["private_key"] = item.private_key
        if password:
            body["password"] = password
        try:
            result = client.post(f"/v1/repositories/{repository_id}/certificates", body)
            return _Outcome(item, identifier=result["items"][0]["identifier"])
        except ApiError as exc:
            if exc.status == 0:
                server_gone.set()  # stop sending: the files left are listed, and a re-run resumes
                return _Outcome(item, unreached=_unreached_reason(exc))
            if exc.code == "CertificateExists":
                return _Outcome(item, exists=True)
            return _Outcome(item, refused=f"{exc.code}: {exc.message}")

    with Progress(transient=True) as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task("importing", total=len(items))
        for future in as_completed([pool.submit(upload, i) for i in items]):
            future.result().record(summary)
            progress.advance(task)
    return summary
