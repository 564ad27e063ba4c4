"""The server accepts what the SDK sends: certificates and keys in the URL query (reference §1.2, §9.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .conftest import call_action
from .support import create_warehouse

PADDING_BYTES = 96 * 1024


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def rsa_4096_chain() -> tuple[str, str]:
    """A leaf, intermediate and root of 4096-bit RSA (one key for all three: only the size matters
    here) as concatenated PEM, and the key as PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    now = datetime.now(UTC)
    pems: list[bytes] = []
    names = ["Chain Root", "Chain Intermediate", "leaf.example.com"]
    for index, subject in enumerate(names):
        issuer = names[max(index - 1, 0)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=index < 2, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pems.insert(0, cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return b"".join(pems).decode(), key_pem.decode()


def test_a_4096_bit_rsa_chain_and_key_in_the_query_are_uploaded(
    admin_client: CasClient, rsa_4096_chain: tuple[str, str]
) -> None:
    chain, key = rsa_4096_chain
    warehouse = create_warehouse(admin_client)
    request = models.UploadPCACertRequest(
        warehouse_id=warehouse.wh_id, cert=chain, private_key=key, name="big"
    )
    # The request line (about 12 KB) was read, signed parameters verified, the certificate stored.
    identifier = admin_client.upload_pcacert(request).body.identifier
    described = admin_client.describe_warehouse_cert(
        models.DescribeWarehouseCertRequest(cert_identifier=identifier)
    )
    assert described.body.content == chain


def test_a_query_longer_than_64_kib_is_accepted(admin_client: CasClient) -> None:
    body = call_action(admin_client, "ListCertWarehouse", {"ShowSize": 1, "Padding": "p" * PADDING_BYTES})
    assert body["statusCode"] == 200 and body["body"]["ShowSize"] == 1
