"""certrepo cert …: upload, bulk import, list, show, delete, export-key (issue and revoke: CA commands)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import console, emit, emit_table, reporting_errors
from ._common import client
from .bulk_import import import_folder

app = typer.Typer(help="Certificates: upload, import a folder, list, show, delete, export a key.", no_args_is_help=True)

_COLUMNS = ["identifier", "common_name", "status", "not_after", "key_algorithm", "has_private_key", "name"]


def _read(value: str | None) -> str | None:
    """``@file`` reads a file (PEM text, or binary which is sent base64), ``-`` reads stdin."""
    if value is None:
        return None
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        raw = Path(value[1:]).read_bytes()
        try:
            text = raw.decode()
            if "-----BEGIN" in text:
                return text
        except UnicodeDecodeError:
            pass
        return base64.b64encode(raw).decode()
    return value


def _show(item: dict[str, Any]) -> None:
    for key, value in item.items():
        if value is not None:
            console.print(f"[bold]{key}[/bold]: {value}")


@app.command("upload")
def upload(
    repository: Annotated[int, typer.Option("--repository", "-r", help="repository id")],
    certificate: Annotated[str, typer.Argument(help="@file, - for stdin, or the PEM text")],
    key: Annotated[str | None, typer.Option(help="@file with the private key")] = None,
    chain: Annotated[str | None, typer.Option(help="@file with the issuers")] = None,
    password: Annotated[str | None, typer.Option(help="of the PKCS#12 file or the encrypted key")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    custom_identifier: Annotated[str | None, typer.Option()] = None,
    exportable: Annotated[bool, typer.Option(help="allow exporting the key later")] = False,
    allow_expired: Annotated[bool, typer.Option(help="accept an expired end-entity certificate")] = False,
) -> None:
    """Upload a certificate (PEM, DER or PKCS#12) with its key and chain."""
    body = {
        "certificate": _read(certificate),
        "private_key": _read(key),
        "chain": _read(chain),
        "password": password,
        "name": name,
        "custom_identifier": custom_identifier,
        "exportable": exportable,
        "allow_expired": allow_expired,
    }
    with reporting_errors():
        result = client().post(f"/v1/repositories/{repository}/certificates", {k: v for k, v in body.items() if v is not None})
    emit(result, human=lambda r: [_show(i) for i in r["items"]])


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="folder of PEM/DER/PKCS#12 files")],
    repository: Annotated[int, typer.Option("--repository", "-r", help="repository id")],
    password: Annotated[str | None, typer.Option(help="for PKCS#12 files and encrypted keys")] = None,
    workers: Annotated[
        int, typer.Option(help="certificates in flight, sent in batches of up to 100 over 4 connections")
    ] = 400,
    exportable: Annotated[bool, typer.Option()] = False,
) -> None:
    """Import every certificate (and its matching key) of a folder; prints what was refused and why.
    Exit 1 when something was refused, 2 when the server went away (re-run to import what is missing)."""
    with reporting_errors():
        summary = import_folder(
            client(), folder, repository_id=repository, password=password, workers=workers, exportable=exportable
        )
    emit(summary.as_dict(), human=lambda _: summary.print(console))
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command("list")
def list_(
    repository: Annotated[int, typer.Option("--repository", "-r")],
    keyword: Annotated[str | None, typer.Option("--keyword", "-k")] = None,
    status: Annotated[str | None, typer.Option(help="issued or revoked")] = None,
    expiring_within_days: Annotated[int | None, typer.Option()] = None,
    page: int = 1,
    page_size: int = 50,
) -> None:
    """Search a repository's certificates."""
    with reporting_errors():
        result = client().get(
            f"/v1/repositories/{repository}/certificates",
            keyword=keyword,
            status=status,
            expiring_within_days=expiring_within_days,
            page=page,
            page_size=page_size,
        )
    emit_table(result["items"], _COLUMNS, title=f"{result['total']} certificates")


@app.command("show")
def show(identifier: str, pem: Annotated[bool, typer.Option(help="include PEM and chain")] = False) -> None:
    """Show one certificate."""
    with reporting_errors():
        emit(client().get(f"/v1/certificates/{identifier}", include="pem,chain" if pem else None), human=_show)


@app.command("delete")
def delete(identifier: str) -> None:
    """Delete a certificate; its key is destroyed."""
    with reporting_errors():
        client().delete(f"/v1/certificates/{identifier}")
    emit({"deleted": identifier}, human=lambda _: console.print(f"certificate {identifier} deleted"))


@app.command("export-key")
def export_key(
    identifier: str,
    format: Annotated[str, typer.Option(help="pkcs8 or pkcs12")] = "pkcs8",
    password: Annotated[str | None, typer.Option(help="encrypts the export (required for pkcs12)")] = None,
    out: Annotated[Path | None, typer.Option(help="write to this file (mode 0600)")] = None,
) -> None:
    """Export the private key of an exportable certificate."""
    with reporting_errors():
        result = client().post(
            f"/v1/certificates/{identifier}/export-key", {"format": format, "password": password}
        )
    data = result["private_key"].encode() if format == "pkcs8" else base64.b64decode(result["private_key"])
    if out is None:
        sys.stdout.write(result["private_key"] + ("" if format == "pkcs8" else "\n"))
        return
    out.touch(mode=0o600)
    out.write_bytes(data)
    console.print(f"key written to {out}")


# --- issue and revoke (private CA, issue 4) ----------------------------------------------------------


def _sans(values: list[str] | None) -> list[dict[str, str]]:
    sans = []
    for value in values or []:
        kind, colon, rest = value.partition(":")
        if not colon or kind not in ("dns", "email", "uri", "ip"):
            raise typer.BadParameter(
                f"{value!r}: write TYPE:VALUE with TYPE dns, email, uri or ip", param_hint="--san"
            )
        sans.append({"type": kind, "value": rest})
    return sans


@app.command("issue")
def issue(
    repository: Annotated[int, typer.Option("--repository", "-r", help="private or compliant repository id")],
    usage: Annotated[str, typer.Option(help="server, client or document_signing")] = "server",
    csr: Annotated[str | None, typer.Option(help="@file with a PKCS#10 request, else a new key")] = None,
    key_algorithm: Annotated[str | None, typer.Option(help="generated key; default: the CA's")] = None,
    common_name: Annotated[str | None, typer.Option("--common-name", "--cn")] = None,
    organization: Annotated[str | None, typer.Option("--organization", "-o")] = None,
    country: Annotated[str | None, typer.Option()] = None,
    san: Annotated[list[str] | None, typer.Option(help="TYPE:VALUE, repeatable: dns:a.example")] = None,
    days: Annotated[int | None, typer.Option(help="validity (default 365)")] = None,
    not_before: Annotated[str | None, typer.Option(help="RFC 3339, with --not-after (not --days)")] = None,
    not_after: Annotated[str | None, typer.Option(help="RFC 3339")] = None,
    exportable: Annotated[bool, typer.Option(help="generated key: return it once, allow export")] = False,
    name: Annotated[str | None, typer.Option()] = None,
    custom_identifier: Annotated[str | None, typer.Option()] = None,
    out: Annotated[Path | None, typer.Option(help="write the certificate (PEM) here")] = None,
    key_out: Annotated[Path | None, typer.Option(help="write the returned key here (mode 0600)")] = None,
) -> None:
    """Issue a certificate from the repository's CA, for a CSR or with a generated key."""
    body = {
        "usage": usage,
        "csr": _read(csr),
        "key_algorithm": key_algorithm,
        "common_name": common_name,
        "organization": organization,
        "country": country,
        "sans": _sans(san) or None,
        "days": days,
        "not_before": not_before,
        "not_after": not_after,
        "exportable": exportable,
        "name": name,
        "custom_identifier": custom_identifier,
    }
    with reporting_errors():
        item = client().post(
            f"/v1/repositories/{repository}/issue", {k: v for k, v in body.items() if v is not None}
        )
    if out is not None:
        out.write_text(item["pem"])
    if key_out is not None and item.get("private_key"):
        key_out.touch(mode=0o600)
        key_out.write_text(item.pop("private_key"))
    emit(item, human=_show)


@app.command("revoke")
def revoke(
    identifier: str,
    reason: Annotated[str | None, typer.Option(help="RFC 5280 reason, e.g. key_compromise")] = None,
) -> None:
    """Revoke a certificate; one issued here goes on its CA's CRL and OCSP answers at once."""
    with reporting_errors():
        result = client().post(f"/v1/certificates/{identifier}/revoke", {"reason": reason} if reason else {})
    emit(result, human=_show)
