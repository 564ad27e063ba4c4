"""What the RPC action tests share: repositories and CAs made through the API, PKI material built with
cryptography's builders, and the raw answer of an action (extension fields included)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from alibabacloud_cas20200407.client import Client as CasClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from tests.factories import Chain, key_pem, pem

from .conftest import Identity, Server, call_action

OPENSSL = "/usr/bin/openssl"


@dataclass(frozen=True)
class Warehouse:
    instance_id: str
    wh_id: int


def create_warehouse(client: CasClient, type_name: str = "uploadedCertificate", **extra: Any) -> Warehouse:
    """CreateWarehouse; both handles of the new repository."""
    body = call_action(client, "CreateWarehouse", {"Type": type_name, **extra})["body"]
    return Warehouse(body["WarehouseInstanceId"], body["WhId"])


def reset_warehouse(client: CasClient, warehouse: Warehouse) -> None:
    call_action(client, "ResetWarehouse", {"WarehouseId": warehouse.wh_id, "AcknowledgeRisk": True})


def body_of(client: CasClient, action: str, query: dict[str, Any]) -> dict[str, Any]:
    """The JSON body an action answered (the SDK's models drop the fields they do not know)."""
    body: dict[str, Any] = call_action(client, action, query)["body"]
    return body


def chain_pem(chain: Chain) -> str:
    """Leaf, intermediate, root: what UploadPCACert's Cert carries."""
    return pem(chain.leaf) + pem(chain.intermediate) + pem(chain.root)


def upload(
    client: CasClient, warehouse: Warehouse, chain: Chain, *, with_key: bool = True, **extra: Any
) -> dict[str, Any]:
    """UploadPCACert of the chain's leaf (and key); the answer."""
    query: dict[str, Any] = {"WarehouseId": warehouse.wh_id, "Cert": chain_pem(chain), **extra}
    if with_key:
        query["PrivateKey"] = key_pem(chain.leaf_key)
    return body_of(client, "UploadPCACert", query)


def list_cert(client: CasClient, warehouse: Warehouse, **filters: Any) -> dict[str, Any]:
    return body_of(client, "ListCert", {"WarehouseId": warehouse.wh_id, **filters})


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def sha256_b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return b64(hashlib.sha256(raw).digest())


@dataclass(frozen=True)
class PrivateCa:
    """A root and an intermediate made through REST, and a private repository bound to the intermediate."""

    root_id: int
    root_pem: str
    intermediate_id: int
    intermediate_pem: str
    warehouse: Warehouse


@dataclass(frozen=True)
class Tenant:
    """An admin of one account: its SDK client, and its identity for arranging things through REST."""

    server: Server
    identity: Identity
    client: CasClient


def tenant_of(server: Server, identity: Identity | None = None) -> Tenant:
    """The server's admin, or the admin ``identity`` of another account."""
    who = identity or server.admin
    return Tenant(server, who, server.client(who))


def create_ca_pair(tenant: Tenant, *, name: str, key_algorithm: str = "ECC_256") -> tuple[int, str, int, str]:
    """A root and an intermediate CA of the tenant's account (through REST): ids and PEMs."""
    with tenant.server.rest(tenant.identity) as rest:
        root = rest.post(
            "/v1/cas", json={"type": "root", "common_name": f"{name} Root", "key_algorithm": key_algorithm}
        )
        assert root.status_code == 201, root.text
        sub = rest.post(
            "/v1/cas",
            json={
                "type": "intermediate",
                "common_name": f"{name} Intermediate",
                "key_algorithm": key_algorithm,
                "parent_id": root.json()["id"],
            },
        )
        assert sub.status_code == 201, sub.text
    return root.json()["id"], root.json()["certificate"], sub.json()["id"], sub.json()["certificate"]


def create_private_ca(tenant: Tenant, *, name: str, key_algorithm: str = "ECC_256") -> PrivateCa:
    """Root + intermediate, and CreateWarehouse Type=pcaCertificate bound to the intermediate."""
    root_id, root_pem, sub_id, sub_pem = create_ca_pair(tenant, name=name, key_algorithm=key_algorithm)
    warehouse = create_warehouse(tenant.client, "pcaCertificate", PcaInstanceId=sub_id)
    return PrivateCa(root_id, root_pem, sub_id, sub_pem, warehouse)


def csr_pem(key: CertificateIssuerPrivateKeyTypes, common_name: str, dns: list[str] | None = None) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def load_pem(text: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(text.encode())
