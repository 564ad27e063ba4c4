"""The two full scenarios of issue 6, with the official SDK against a real server (SQLite and PostgreSQL):
an uploaded certificate used for every key operation from creation to deletion of its repository, and a
private repository issuing, revoking and publishing the revocation in its CA's CRL."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from alibabacloud_cas20200407 import models
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import build, ec_key, key_pem, make_chain, pem, rsa_key

from .conftest import Server, rpc_error
from .support import (
    OPENSSL,
    b64,
    body_of,
    create_private_ca,
    create_warehouse,
    csr_pem,
    load_pem,
    sha256_b64,
    tenant_of,
)

# Every algorithm that fits an RSA key, with every message type.
RSA_SIGNATURES = [
    (algorithm, kind)
    for algorithm in ("SHA256withRSA", "SHA256withRSA/PSS", "SHA256withRSA/P7")
    for kind in ("RAW", "BASE64", "DIGEST")
]
MESSAGE = "pay 100 to alice"
WIRE_MESSAGE = {"RAW": MESSAGE, "BASE64": b64(MESSAGE), "DIGEST": sha256_b64(MESSAGE)}


def test_an_uploaded_certificate_from_upload_to_the_deleted_repository(acs_server: Server) -> None:
    tenant = tenant_of(acs_server, acs_server.fresh_account())
    client = tenant.client
    chain = make_chain("Scenario")
    leaf_key = rsa_key()
    leaf = build(
        "signer.scenario.example.com",
        leaf_key,
        issuer=(chain.intermediate, chain.intermediate_key),
        sans=["signer.scenario.example.com"],
    )
    warehouse = create_warehouse(client, "uploadedCertificate", Name="scenario")

    uploaded = client.upload_pcacert(
        models.UploadPCACertRequest(
            warehouse_id=warehouse.wh_id,
            cert=pem(leaf) + pem(chain.intermediate) + pem(chain.root),
            private_key=key_pem(leaf_key),
            name="signer",
        )
    ).body
    identifier = uploaded.identifier

    listed = client.list_cert_warehouse(
        models.ListCertWarehouseRequest(instance_id=warehouse.instance_id)
    ).body
    assert [r.wh_id for r in listed.cert_warehouse_list] == [warehouse.wh_id]

    rows = client.list_cert(models.ListCertRequest(warehouse_id=warehouse.wh_id)).body
    assert rows.total_count == 1
    row = rows.cert_list[0]
    assert (row.identifier, row.common_name, row.cert_type, row.source_type, row.status) == (
        identifier,
        "signer.scenario.example.com",
        "CERT",
        "upload",
        "ISSUE",
    )
    assert (row.algorithm, row.exist_private_key, row.wh_instance_id) == ("RSA", True, warehouse.instance_id)

    described = client.describe_warehouse_cert(
        models.DescribeWarehouseCertRequest(cert_identifier=identifier)
    ).body
    assert described.content == pem(leaf) + pem(chain.intermediate) + pem(chain.root)
    assert described.fingerprint == leaf.fingerprint(hashes.SHA1()).hex()
    assert described.warehouse_instance_id == warehouse.instance_id

    operations = 0
    for algorithm, kind in RSA_SIGNATURES:
        signature = client.sign(
            models.SignRequest(
                cert_identifier=identifier,
                warehouse_id=warehouse.wh_id,
                message=WIRE_MESSAGE[kind],
                message_type=kind,
                signing_algorithm=algorithm,
            )
        ).body.signature
        verified = client.verify(
            models.VerifyRequest(
                cert_identifier=identifier,
                warehouse_id=str(warehouse.wh_id),
                # Verify's RAW message is base64 of the data (Alibaba's documented form).
                message=b64(MESSAGE) if kind == "RAW" else WIRE_MESSAGE[kind],
                message_type=kind,
                signature_value=signature,
                signing_algorithm=algorithm,
            )
        ).body
        assert verified.signature_valid is True, (algorithm, kind)
        operations += 2

    ciphertext = client.encrypt(
        models.EncryptRequest(
            cert_identifier=identifier,
            algorithm="RSAES_OAEP_SHA_256",
            plaintext="approve #42",
            message_type="RAW",
        )
    ).body
    assert ciphertext.cert_identifier == identifier
    plaintext = client.decrypt(
        models.DecryptRequest(
            cert_identifier=identifier,
            algorithm="RSAES_OAEP_SHA_256",
            ciphertext_blob=ciphertext.ciphertext_blob,
            message_type="RAW",
        )
    ).body
    assert (plaintext.cert_identifier, plaintext.plaintext) == (identifier, "approve #42")
    operations += 2

    quota = client.get_cert_warehouse_quota().body
    assert quota.app_use_count == operations

    client.delete_pcacert(models.DeletePCACertRequest(identifier=identifier))
    assert client.list_cert(models.ListCertRequest(warehouse_id=warehouse.wh_id)).body.total_count == 0
    body_of(client, "ResetWarehouse", {"WarehouseId": warehouse.wh_id, "AcknowledgeRisk": True})
    client.delete_warehouse(models.DeleteWarehouseRequest(warehouse_instance_id=warehouse.instance_id))
    gone = client.list_cert_warehouse(models.ListCertWarehouseRequest(instance_id=warehouse.instance_id)).body
    assert gone.total_count == 0


def _openssl_verify(
    tmp_path: Path, root: str, intermediate: str, leaf: str
) -> subprocess.CompletedProcess[str]:
    for name, text in (("root.pem", root), ("intermediate.pem", intermediate), ("leaf.pem", leaf)):
        (tmp_path / name).write_text(text)
    return subprocess.run(
        [OPENSSL, "verify", "-CAfile", "root.pem", "-untrusted", "intermediate.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_private_repository_issues_revokes_and_publishes_the_revocation(
    acs_server: Server, tmp_path: Path
) -> None:
    tenant = tenant_of(acs_server, acs_server.fresh_account())
    client = tenant.client
    ca = create_private_ca(tenant, name="Scenario PCA")
    cas = client.list_cert(models.ListCertRequest(warehouse_id=ca.warehouse.wh_id, cert_type="CA")).body
    parent = cas.cert_list[0].identifier
    assert [r.identifier for r in cas.cert_list] == [f"ca-{ca.intermediate_id}", f"ca-{ca.root_id}"]

    now = datetime.now(UTC).replace(microsecond=0)
    requests = {
        "csr-days": {"Csr": csr_pem(ec_key(), "csr.scenario.example.com"), "Days": 30, "Immediately": 2},
        "generated-days": {
            "CommonName": "generated client",
            "Algorithm": "ECC_256",
            "Days": 10,
            "Immediately": 1,
        },
        "generated-pair": {
            "CommonName": "paired client",
            "BeforeTime": int(now.timestamp()),
            "AfterTime": int((now + timedelta(days=7)).timestamp()),
            "Immediately": 2,
            "SanType": 1,
            "SanValue": "a@scenario.example.com,b@scenario.example.com",
        },
        "csr-nothing-back": {
            "Csr": csr_pem(ec_key(), "quiet.scenario.example.com"),
            "Days": 5,
            "Immediately": 0,
        },
    }
    issued = {
        name: body_of(client, "CreateWHClientCertificate", {"ParentIdentifier": parent, **query})
        for name, query in requests.items()
    }
    assert "X509Certificate" not in issued["csr-nothing-back"]
    assert "CertificateChain" not in issued["generated-days"] and issued["generated-days"]["X509Certificate"]
    for name in ("csr-days", "generated-pair"):
        answer = issued[name]
        assert (
            answer["ParentX509Certificate"] == ca.intermediate_pem
            and answer["RootX509Certificate"] == ca.root_pem
        )
        assert answer["CertificateChain"] == ca.intermediate_pem + ca.root_pem
        verdict = _openssl_verify(
            tmp_path, answer["RootX509Certificate"], answer["CertificateChain"], answer["X509Certificate"]
        )
        assert verdict.returncode == 0 and "leaf.pem: OK" in verdict.stdout, verdict.stderr
    paired = load_pem(issued["generated-pair"]["X509Certificate"])
    assert (paired.not_valid_before_utc, paired.not_valid_after_utc) == (now, now + timedelta(days=7))
    emails = paired.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert emails.get_values_for_type(x509.RFC822Name) == ["a@scenario.example.com", "b@scenario.example.com"]

    target = issued["csr-days"]["Identifier"]
    client.revoke_whclient_certificate(models.RevokeWHClientCertificateRequest(identifier=target))

    revoked = client.list_cert(models.ListCertRequest(warehouse_id=ca.warehouse.wh_id, status="REVOKE")).body
    assert [(r.identifier, r.status, r.cert_type, r.source_type) for r in revoked.cert_list] == [
        (target, "REVOKE", "CERT", "aliyun")
    ]
    serial = load_pem(issued["csr-days"]["X509Certificate"]).serial_number
    crl = x509.load_der_x509_crl(httpx.get(f"{acs_server.base_url}/crl/{ca.intermediate_id}.crl").content)
    assert crl.is_signature_valid(load_pem(ca.intermediate_pem).public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    others = [
        load_pem(issued[n]["X509Certificate"]).serial_number for n in ("generated-days", "generated-pair")
    ]
    assert all(crl.get_revoked_certificate_by_serial_number(s) is None for s in others)


def test_an_issued_key_signs_and_a_verifier_outside_checks_it(acs_server: Server) -> None:
    tenant = tenant_of(acs_server, acs_server.fresh_account())
    ca = create_private_ca(tenant, name="Scenario Keys")
    issued = body_of(
        tenant.client,
        "CreateWHClientCertificate",
        {
            "ParentIdentifier": f"ca-{ca.intermediate_id}",
            "CommonName": "kept key",
            "Days": 3,
            "Immediately": 1,
        },
    )
    signature = tenant.client.sign(
        models.SignRequest(
            cert_identifier=issued["Identifier"],
            message=MESSAGE,
            message_type="RAW",
            signing_algorithm="SHA256withECDSA",
        )
    ).body.signature
    public_key = load_pem(issued["X509Certificate"]).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(base64.b64decode(signature), MESSAGE.encode(), ec.ECDSA(hashes.SHA256()))


def test_a_reset_private_repository_releases_its_intermediate_for_issuance(acs_server: Server) -> None:
    tenant = tenant_of(acs_server)
    ca = create_private_ca(tenant, name="Scenario Reset")
    issued = body_of(
        tenant.client,
        "CreateWHClientCertificate",
        {"ParentIdentifier": f"ca-{ca.intermediate_id}", "CommonName": "before reset", "Days": 3},
    )
    body_of(tenant.client, "ResetWarehouse", {"WarehouseId": ca.warehouse.wh_id, "AcknowledgeRisk": True})
    error = rpc_error(
        lambda: body_of(
            tenant.client,
            "CreateWHClientCertificate",
            {"ParentIdentifier": f"ca-{ca.intermediate_id}", "CommonName": "after reset", "Days": 3},
        )
    )
    assert (error.code, error.status_code) == ("InvalidParameter", 400)
    assert "bound to no repository" in error.data["Message"]
    gone = rpc_error(
        lambda: tenant.client.sign(
            models.SignRequest(
                cert_identifier=issued["Identifier"],
                message="x",
                message_type="RAW",
                signing_algorithm="SHA256withECDSA",
            )
        )
    )
    assert (gone.code, gone.status_code) == ("NotFound.Certificate", 404)
