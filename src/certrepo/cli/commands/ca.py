"""certrepo ca …: the private CA over the REST API (create, import, list, show, revoke by serial, crl)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import console, emit, emit_table, reporting_errors
from ._common import client

__all__ = ["app"]

app = typer.Typer(
    help="Certificate authorities: create a root or intermediate, import one, list, show, revoke, CRL.",
    no_args_is_help=True,
)

_COLUMNS = [
    "id",
    "type",
    "common_name",
    "key_algorithm",
    "parent_id",
    "bound_repository_id",
    "not_after",
    "imported",
]


def _read(value: str | None) -> str | None:
    """``@file`` reads a file (PEM text, or binary sent base64), ``-`` reads stdin, else the value itself."""
    if value is None:
        return None
    if value == "-":
        return sys.stdin.read()
    if not value.startswith("@"):
        return value
    raw = Path(value[1:]).read_bytes()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode()
    return text if "-----BEGIN" in text else base64.b64encode(raw).decode()


def _show(ca: dict[str, Any]) -> None:
    for key, value in ca.items():
        if key != "certificate" and value is not None:
            console.print(f"[bold]{key}[/bold]: {value}")


def _emit_ca(ca: dict[str, Any], out: Path | None) -> None:
    if out is not None:
        out.write_text(ca["certificate"])
    emit(ca, human=_show)


Out = Annotated[Path | None, typer.Option(help="also write the CA certificate (PEM) to this file")]


@app.command("create")
def create(
    type_: Annotated[str, typer.Option("--type", "-t", help="root or intermediate")],
    common_name: Annotated[str, typer.Option("--common-name", "--cn", help="subject CN")],
    key_algorithm: Annotated[
        str, typer.Option(help="RSA_2048, RSA_3072, RSA_4096, ECC_256, ECC_384, ECC_521, ED25519")
    ] = "ECC_256",
    parent_id: Annotated[int | None, typer.Option(help="intermediate: the CA that signs it")] = None,
    days: Annotated[
        int | None, typer.Option(help="validity; default 3650 (root), 1825 (intermediate)")
    ] = None,
    path_len: Annotated[
        int | None, typer.Option(help="pathLenConstraint; default 0 for intermediates")
    ] = None,
    organization: Annotated[str | None, typer.Option("--organization", "-o")] = None,
    country: Annotated[str | None, typer.Option(help="two-letter ISO 3166 code")] = None,
    out: Out = None,
) -> None:
    """Create a root CA or an intermediate CA (the key is generated and kept by the service)."""
    body = {
        "type": type_,
        "common_name": common_name,
        "key_algorithm": key_algorithm,
        "parent_id": parent_id,
        "days": days,
        "path_len": path_len,
        "organization": organization,
        "country": country,
    }
    with reporting_errors():
        ca = client().post("/v1/cas", {k: v for k, v in body.items() if v is not None})
    _emit_ca(ca, out)


@app.command("import")
def import_(
    certificate: Annotated[str, typer.Argument(help="@file (PEM, DER or PKCS#12), - for stdin, or PEM text")],
    key: Annotated[
        str | None, typer.Option(help="@file with the CA's private key (unless in PKCS#12)")
    ] = None,
    chain: Annotated[str | None, typer.Option(help="@file with the issuers up to a root")] = None,
    password: Annotated[str | None, typer.Option(help="of the PKCS#12 file or the encrypted key")] = None,
    out: Out = None,
) -> None:
    """Import an existing CA with its private key; its chain must reach a root."""
    body = {
        "type": "imported",
        "certificate": _read(certificate),
        "private_key": _read(key),
        "chain": _read(chain),
        "password": password,
    }
    with reporting_errors():
        ca = client().post("/v1/cas", {k: v for k, v in body.items() if v is not None})
    _emit_ca(ca, out)


@app.command("list")
def list_(page: int = 1, page_size: int = 50) -> None:
    """List the CAs of the account."""
    with reporting_errors():
        result = client().get("/v1/cas", page=page, page_size=page_size)
    emit_table(result["items"], _COLUMNS, title=f"{result['total']} CAs")


@app.command("show")
def show(ca_id: int, out: Out = None) -> None:
    """Show one CA (the certificate goes to --out, or is in --json output)."""
    with reporting_errors():
        ca = client().get(f"/v1/cas/{ca_id}")
    _emit_ca(ca, out)


@app.command("revoke")
def revoke(
    ca_id: int,
    serial_number: Annotated[str, typer.Argument(help="hexadecimal serial of a certificate the CA issued")],
    reason: Annotated[
        str | None, typer.Option(help="RFC 5280 reason, e.g. key_compromise, superseded")
    ] = None,
) -> None:
    """Revoke by serial (also certificates of a repository that was reset since)."""
    body = {"serial_number": serial_number, "reason": reason}
    with reporting_errors():
        result = client().post(f"/v1/cas/{ca_id}/revoke", {k: v for k, v in body.items() if v is not None})
    emit(result, human=_show)


@app.command("crl")
def crl(ca_id: int, out: Annotated[Path | None, typer.Option(help="write the PEM CRL here")] = None) -> None:
    """Fetch the CA's current CRL (PEM)."""
    with reporting_errors():
        text = client().get(f"/crl/{ca_id}.pem")
    if out is None:
        sys.stdout.write(str(text))
        return
    out.write_text(str(text))
    console.print(f"CRL written to {out}")
