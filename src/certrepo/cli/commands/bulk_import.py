"""Bulk import of a folder: pair certificates with their keys locally, upload in parallel, report refusals.

Each certificate is one upload request, which the server stores atomically (certificate and key, or
neither), so a refused item leaves nothing behind and a re-run imports what is missing: duplicates are
reported as already present, not as failures."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.progress import Progress

from ..client import ApiError, Client

__all__ = ["ImportSummary", "import_folder"]

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": len(self.imported),
            "already_present": self.already_present,
            "refused": self.refused,
            "unpaired_keys": self.unpaired_keys,
        }

    def print(self, console: Console) -> None:
        console.print(f"imported {len(self.imported)}, already present {len(self.already_present)}, "
                      f"refused {len(self.refused)}")
        for path, reason in sorted(self.refused.items()):
            console.print(f"  [red]refused[/red] {path}: {reason}")
        for path in self.unpaired_keys:
            console.print(f"  [yellow]no certificate for key[/yellow] {path}")


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


def import_folder(
    client: Client, folder: Path, *, repository_id: int, password: str | None, workers: int, exportable: bool
) -> ImportSummary:
    summary = ImportSummary()
    items = _scan(folder, summary)

    def upload(item: _Item) -> tuple[_Item, str | None, str | None]:
        body: dict[str, Any] = {"certificate": item.certificate, "exportable": exportable and (item.private_key is not None or item.is_pkcs12)}
        if item.private_key:
            body["private_key"] = item.private_key
        if password:
            body["password"] = password
        try:
            result = client.post(f"/v1/repositories/{repository_id}/certificates", body)
            return item, result["items"][0]["identifier"], None
        except ApiError as exc:
            if exc.code == "CertificateExists":
                return item, None, "exists"
            if exc.status == 0:
                raise
            return item, None, f"{exc.code}: {exc.message}"

    with Progress(transient=True) as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task("importing", total=len(items))
        for future in as_completed([pool.submit(upload, i) for i in items]):
            item, identifier, problem = future.result()
            if identifier:
                summary.imported.append(identifier)
            elif problem == "exists":
                summary.already_present.append(str(item.path))
            else:
                summary.refused[str(item.path)] = problem or "refused"
            progress.advance(task)
    return summary
