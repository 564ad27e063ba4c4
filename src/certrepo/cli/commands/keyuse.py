"""certrepo sign | verify | encrypt | decrypt: use a stored key over the REST API.

Input comes from an argument, ``@file`` or ``-`` (stdin); ``--raw-output`` writes bytes instead of base64.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..output import emit, reporting_errors
from ._common import client

__all__ = ["decrypt", "encrypt", "sign", "verify"]

Identifier = Annotated[str | None, typer.Option("--identifier", "-i", help="certificate identifier")]
Custom = Annotated[str | None, typer.Option("--custom-identifier", "-c", help="custom identifier instead")]
Algorithm = Annotated[
    str, typer.Option("--algorithm", "-a", help="e.g. SHA256withRSA, SHA256withECDSA, Ed25519")
]


def _input(value: str) -> bytes:
    if value == "-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        return Path(value[1:]).read_bytes()
    return value.encode()


def _target(identifier: str | None, custom: str | None) -> dict[str, Any]:
    if not identifier and not custom:
        raise typer.BadParameter("give --identifier or --custom-identifier")
    return {"identifier": identifier} if identifier else {"custom_identifier": custom}


def _write(result_b64: str, raw_output: bool, key: str) -> None:
    if raw_output:
        sys.stdout.buffer.write(base64.b64decode(result_b64))
    else:
        emit({key: result_b64}, human=lambda d: sys.stdout.write(d[key] + "\n"))


def sign(
    message: Annotated[str, typer.Argument(help="text, @file or - (stdin)")],
    algorithm: Algorithm,
    identifier: Identifier = None,
    custom_identifier: Custom = None,
    digest: Annotated[bool, typer.Option(help="the input is already a hash of the message")] = False,
    raw_output: Annotated[bool, typer.Option(help="write the signature bytes, not base64")] = False,
) -> None:
    """Sign a message with a stored certificate's key."""
    data = _input(message)
    body = {
        **_target(identifier, custom_identifier),
        "algorithm": algorithm,
        "message": base64.b64encode(data).decode(),
        "message_type": "DIGEST" if digest else "BASE64",
    }
    with reporting_errors():
        result = client().post("/v1/sign", body)
    _write(result["signature"], raw_output, "signature")


def verify(
    message: Annotated[str, typer.Argument(help="text, @file or - (stdin)")],
    signature: Annotated[str, typer.Option("--signature", "-s", help="base64, or @file with the raw bytes")],
    algorithm: Algorithm,
    identifier: Identifier = None,
    custom_identifier: Custom = None,
    digest: Annotated[bool, typer.Option(help="the input is already a hash of the message")] = False,
) -> None:
    """Verify a signature; exit 1 when it is not valid."""
    data = _input(message)
    signature_b64 = (
        base64.b64encode(Path(signature[1:]).read_bytes()).decode()
        if signature.startswith("@")
        else signature
    )
    body = {
        **_target(identifier, custom_identifier),
        "algorithm": algorithm,
        "message": base64.b64encode(data).decode(),
        "message_type": "DIGEST" if digest else "BASE64",
        "signature": signature_b64,
    }
    with reporting_errors():
        result = client().post("/v1/verify", body)
    emit(result, human=lambda d: sys.stdout.write(("valid" if d["valid"] else "NOT valid") + "\n"))
    if not result["valid"]:
        raise typer.Exit(1)


def encrypt(
    plaintext: Annotated[str, typer.Argument(help="text, @file or - (stdin)")],
    algorithm: Annotated[
        str, typer.Option("--algorithm", "-a", help="RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, SM2PKE")
    ],
    identifier: Identifier = None,
    custom_identifier: Custom = None,
    raw_output: Annotated[bool, typer.Option(help="write the ciphertext bytes, not base64")] = False,
) -> None:
    """Encrypt with a stored certificate's public key."""
    body = {
        **_target(identifier, custom_identifier),
        "algorithm": algorithm,
        "plaintext": base64.b64encode(_input(plaintext)).decode(),
        "message_type": "BASE64",
    }
    with reporting_errors():
        result = client().post("/v1/encrypt", body)
    _write(result["ciphertext"], raw_output, "ciphertext")


def decrypt(
    ciphertext: Annotated[
        str, typer.Argument(help="base64, @file with the raw bytes, or - (raw bytes on stdin)")
    ],
    algorithm: Annotated[
        str, typer.Option("--algorithm", "-a", help="RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, SM2PKE")
    ],
    identifier: Identifier = None,
    custom_identifier: Custom = None,
    raw_output: Annotated[bool, typer.Option(help="write the plaintext bytes, not base64")] = False,
) -> None:
    """Decrypt with a stored certificate's private key."""
    if ciphertext == "-" or ciphertext.startswith("@"):
        encoded = base64.b64encode(_input(ciphertext)).decode()
    else:
        encoded = ciphertext
    body = {
        **_target(identifier, custom_identifier),
        "algorithm": algorithm,
        "ciphertext": encoded,
        "message_type": "BASE64",
    }
    with reporting_errors():
        result = client().post("/v1/decrypt", body)
    _write(result["plaintext"], raw_output, "plaintext")
