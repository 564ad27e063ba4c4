"""SM2 over REST: SM2 certificates uploaded with and without their keys (uploaded, uploaded_ca), their keys
used (SM3withSM2, SM2PKE), and the private CA with SM2 keys: root, intermediate, issuance from an SM2 CSR and
with a generated key, revocation on an SM2-signed CRL and OCSP response.

Every signature the service makes is checked with the gmssl-pyx primitive and the default distinguishing
ID (1234567812345678) over the parts asn1crypto reads from the bytes the API returned.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
from typing import Any

import httpx
import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import csr as asn1_csr
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from tests.conftest import skip_or_fail
from tests.factories import key_pem, make_chain, pem

from certrepo.crypto.sm2 import (
    SM2PrivateKey,
    SM2PublicKey,
    generate_sm2_private_key,
    is_sm2_available,
    load_sm2_private_key,
    sm2_keys_match,
    sm2_public_key_from_spki,
    sm2_sign,
    sm2_verify,
)
from certrepo.domain.enums import IssueUsage
from certrepo.pki.issue import (
    San,
    SubjectSpec,
    build_intermediate_ca,
    build_root_ca,
    issue_certificate,
    new_serial,
)

pytestmark = [
    pytest.mark.usefixtures("world"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),  # nothing SM2-specific is stored
]

SM3_WITH_SM2 = "1.2.156.10197.1.501"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)

@pytest.fixture(autouse=True, scope="module")
def _needs_gmssl() -> None:
    if not is_sm2_available():
        skip_or_fail("SM2 needs the optional gmssl-pyx package, which is not installed")


# --- an SM2 chain to upload ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sm2Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: SM2PrivateKey
    intermediate_key: SM2PrivateKey

    @staticmethod
    def pem(*certs: x509.Certificate) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)

    @property
    def key_pem(self) -> str:
        return _pkcs8_pem(self.leaf_key)


def _pkcs8_pem(key: SM2PrivateKey) -> str:
    encoded = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encoded.decode()


@pytest.fixture(scope="module")
def sm2_chain() -> Sm2Chain:
    root_key, int_key, leaf_key = (generate_sm2_private_key() for _ in range(3))
    root = build_root_ca(
        key=root_key,
        subject=SubjectSpec(common_name="Upload SM2 Root"),
        not_before=NOW - DAY,
        not_after=NOW + 365 * DAY,
        path_len=1,
        serial=new_serial(os.urandom),
    )
    intermediate = build_intermediate_ca(
        key_public=int_key.public_key(),
        subject=SubjectSpec(common_name="Upload SM2 Issuing"),
        issuer_cert=root,
        issuer_key=root_key,
        not_before=NOW - DAY,
        not_after=NOW + 300 * DAY,
        path_len=0,
        serial=new_serial(os.urandom),
        crl_url=None,
        ocsp_url=None,
    )
    leaf = issue_certificate(
        ca_cert=intermediate,
        ca_key=int_key,
        public_key=leaf_key.public_key(),
        subject=SubjectSpec(common_name="sm2.example.test"),
        sans=[San("dns", "sm2.example.test")],
        not_before=NOW - DAY,
        not_after=NOW + 90 * DAY,
        profile=IssueUsage.SERVER,
        serial=new_serial(os.urandom),
        crl_url="http://pki.example.test/crl/1.crl",
        ocsp_url="http://pki.example.test/ocsp/1",
        now=NOW,
    )
    return Sm2Chain(root, intermediate, leaf, leaf_key, int_key)


def _public_key(cert_pem: str) -> SM2PublicKey:
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return sm2_public_key_from_spki(asn1_x509.Certificate.load(der).public_key.dump())


def _signature_verifies(signed_der: bytes, signer: SM2PublicKey) -> bool:
    """An SM3withSM2 certificate, CRL or OCSP BasicOCSPResponse checked with the gmssl-pyx primitive."""
    parsed = asn1_x509.Certificate.load(signed_der)  # any {tbs, algorithm, signature} SEQUENCE reads alike
    assert parsed["signature_algorithm"]["algorithm"].dotted == SM3_WITH_SM2
    return sm2_verify(signer, parsed["tbs_certificate"].dump(), parsed["signature_value"].native)


async def _repository(api: httpx.AsyncClient, data_source: str, **extra: Any) -> int:
    response = await api.post("/v1/repositories", json={"data_source": data_source, **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _upload(api: httpx.AsyncClient, repository_id: int, **body: Any) -> httpx.Response:
    return await api.post(f"/v1/repositories/{repository_id}/certificates", json=body)


async def _uploaded_with_key(api: httpx.AsyncClient, chain: Sm2Chain) -> dict[str, Any]:
    rid = await _repository(api, "uploaded")
    response = await _upload(
        api,
        rid,
        certificate=chain.pem(chain.leaf),
        private_key=chain.key_pem,
        chain=chain.pem(chain.intermediate, chain.root),
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["items"][0])


# --- uploads --------------------------------------------------------------------------------------------


async def test_an_sm2_certificate_uploads_without_its_key_with_its_facts(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    rid = await _repository(api, "uploaded")

    response = await _upload(
        api, rid, certificate=sm2_chain.pem(sm2_chain.leaf, sm2_chain.intermediate, sm2_chain.root)
    )

    assert response.status_code == 201, response.text
    item = response.json()["items"][0]
    der = sm2_chain.leaf.public_bytes(serialization.Encoding.DER)
    assert (item["key_algorithm"], item["signature_algorithm"]) == ("SM2_256", "SM3withSM2")
    assert (item["fingerprint_sha256"], item["common_name"]) == (
        hashlib.sha256(der).hexdigest(),
        "sm2.example.test",
    )
    assert item["has_private_key"] is False


async def test_an_sm2_certificate_uploads_with_its_pkcs8_key(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    item = await _uploaded_with_key(api, sm2_chain)

    assert (item["key_algorithm"], item["has_private_key"]) == ("SM2_256", True)


async def test_the_uploaded_sm2_key_signs_sm3withsm2_with_the_default_distinguishing_id(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    ident = (await _uploaded_with_key(api, sm2_chain))["identifier"]
    request = {
        "identifier": ident,
        "algorithm": "SM3withSM2",
        "message": "approve invoice 42",
        "message_type": "RAW",
    }

    signed = await api.post("/v1/sign", json=request)

    assert signed.status_code == 200, signed.text
    signature = base64.b64decode(signed.json()["signature"])
    assert sm2_verify(sm2_chain.leaf_key.public_key(), b"approve invoice 42", signature)
    verified = await api.post("/v1/verify", json={**request, "signature": signed.json()["signature"]})
    assert verified.json() == {"valid": True}, verified.text


async def test_a_distinguishing_id_named_by_the_request_is_the_one_signed_with(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    ident = (await _uploaded_with_key(api, sm2_chain))["identifier"]
    request = {"identifier": ident, "algorithm": "SM3withSM2", "message": "pay 7", "distinguishing_id": "alice@example"}

    signed = await api.post("/v1/sign", json=request)

    assert signed.status_code == 200, signed.text
    signature = base64.b64decode(signed.json()["signature"])
    assert sm2_verify(sm2_chain.leaf_key.public_key(), b"pay 7", signature, b"alice@example")
    assert not sm2_verify(sm2_chain.leaf_key.public_key(), b"pay 7", signature)  # not under the default ID
    same = await api.post("/v1/verify", json={**request, "signature": signed.json()["signature"]})
    default = {k: v for k, v in request.items() if k != "distinguishing_id"}
    other = await api.post("/v1/verify", json={**default, "signature": signed.json()["signature"]})
    assert (same.json(), other.json()) == ({"valid": True}, {"valid": False})


async def test_a_distinguishing_id_with_another_algorithm_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    chain = make_chain("NotSm2")
    repository = (await api.post("/v1/repositories", json={"data_source": "uploaded"})).json()["id"]
    uploaded = await api.post(
        f"/v1/repositories/{repository}/certificates",
        json={"certificate": pem(chain.leaf), "private_key": key_pem(chain.leaf_key)},
    )
    assert uploaded.status_code == 201, uploaded.text
    response = await api.post(
        "/v1/sign",
        json={"identifier": uploaded.json()["items"][0]["identifier"], "algorithm": "SHA256withECDSA",
              "message": "m", "distinguishing_id": "alice"},
    )  # fmt: skip

    assert (response.status_code, response.json()["code"]) == (400, "InvalidParameter")
    assert response.json()["details"] == {"field": "distinguishing_id"}


async def test_the_uploaded_sm2_key_decrypts_what_sm2pke_encrypts(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    ident = (await _uploaded_with_key(api, sm2_chain))["identifier"]
    encrypted = await api.post(
        "/v1/encrypt", json={"identifier": ident, "algorithm": "SM2PKE", "plaintext": "secret 7"}
    )
    assert encrypted.status_code == 200, encrypted.text

    decrypted = await api.post(
        "/v1/decrypt",
        json={
            "identifier": ident,
            "algorithm": "SM2PKE",
            "ciphertext": encrypted.json()["ciphertext"],
            "message_type": "RAW",
        },
    )

    assert decrypted.json() == {"plaintext": "secret 7"}, decrypted.text


async def test_an_sm2_upload_with_the_key_of_another_pair_is_key_mismatch(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    rid = await _repository(api, "uploaded")

    response = await _upload(
        api, rid, certificate=sm2_chain.pem(sm2_chain.leaf), private_key=_pkcs8_pem(generate_sm2_private_key()),
        chain=sm2_chain.pem(sm2_chain.intermediate, sm2_chain.root),
    )  # fmt: skip

    assert (response.status_code, response.json()["code"]) == (400, "KeyMismatch")


async def test_an_sm2_chain_whose_intermediate_signature_is_broken_is_chain_invalid(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    der = bytearray(sm2_chain.intermediate.public_bytes(serialization.Encoding.DER))
    der[der.index(b"Upload SM2 Issuing")] ^= 0x01  # a bit of the subject: the signature no longer covers it
    broken = x509.load_der_x509_certificate(bytes(der))
    rid = await _repository(api, "uploaded")

    response = await _upload(api, rid, certificate=sm2_chain.pem(sm2_chain.leaf, broken, sm2_chain.root))

    assert (response.status_code, response.json()["code"]) == (400, "ChainInvalid"), response.text


async def test_sm2_cas_upload_to_a_trust_store_that_then_verifies_an_sm2_leaf(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    rid = await _repository(api, "uploaded_ca")

    uploaded = await _upload(api, rid, certificate=sm2_chain.pem(sm2_chain.intermediate, sm2_chain.root))
    verdict = await api.post(
        f"/v1/repositories/{rid}/verify-chain",
        json={
            "certificate": sm2_chain.pem(sm2_chain.leaf),
            "usage": "server",
            "hostname": "sm2.example.test",
        },
    )

    assert uploaded.status_code == 201, uploaded.text
    assert [i["common_name"] for i in uploaded.json()["items"]] == ["Upload SM2 Root", "Upload SM2 Issuing"]
    assert verdict.json()["valid"] is True, verdict.text


# --- the private CA with SM2 keys -----------------------------------------------------------------------


@dataclasses.dataclass
class Sm2Ca:
    root: dict[str, Any]
    intermediate: dict[str, Any]
    repository_id: int

    @property
    def issuer_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.intermediate["certificate"].encode())


@pytest.fixture
async def sm2_ca(api: httpx.AsyncClient) -> Sm2Ca:
    root = await api.post(
        "/v1/cas", json={"type": "root", "common_name": "REST SM2 Root", "key_algorithm": "SM2_256"}
    )
    assert root.status_code == 201, root.text
    intermediate = await api.post(
        "/v1/cas",
        json={"type": "intermediate", "common_name": "REST SM2 Issuing", "key_algorithm": "SM2_256",
              "parent_id": root.json()["id"], "days": 400},
    )  # fmt: skip
    assert intermediate.status_code == 201, intermediate.text
    rid = await _repository(api, "private", ca_id=intermediate.json()["id"])
    return Sm2Ca(root.json(), intermediate.json(), rid)


async def test_an_sm2_intermediate_imported_with_its_key_issues_certificates(
    api: httpx.AsyncClient, sm2_chain: Sm2Chain
) -> None:
    imported = await api.post(
        "/v1/cas",
        json={"type": "imported", "certificate": sm2_chain.pem(sm2_chain.intermediate),
              "private_key": _pkcs8_pem(sm2_chain.intermediate_key), "chain": sm2_chain.pem(sm2_chain.root)},
    )  # fmt: skip
    assert imported.status_code == 201, imported.text
    assert (imported.json()["key_algorithm"], imported.json()["type"]) == ("SM2_256", "intermediate")
    rid = await _repository(api, "private", ca_id=imported.json()["id"])

    issued = await api.post(
        f"/v1/repositories/{rid}/issue", json={"usage": "client", "common_name": "imp.example.test"}
    )

    assert issued.status_code == 201, issued.text
    der = x509.load_pem_x509_certificate(issued.json()["pem"].encode()).public_bytes(
        serialization.Encoding.DER
    )
    assert _signature_verifies(der, sm2_chain.intermediate_key.public_key())


def sm2_csr(key: SM2PrivateKey, common_name: str) -> str:
    """An SM2 PKCS#10 request (SM3withSM2, default ID) built with asn1crypto, as PEM."""
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.build({"common_name": common_name}),
            "subject_pk_info": asn1_x509.PublicKeyInfo.load(key.public_key().public_bytes_der()),
            "attributes": [],
        }
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": SM3_WITH_SM2},
            "signature": sm2_sign(key, info.dump()),
        }
    )
    return x509.load_der_x509_csr(request.dump()).public_bytes(serialization.Encoding.PEM).decode()


async def test_an_sm2_root_and_intermediate_are_created_and_signed_with_sm3withsm2(
    api: httpx.AsyncClient, sm2_ca: Sm2Ca
) -> None:
    root_key = _public_key(sm2_ca.root["certificate"])

    assert (sm2_ca.root["key_algorithm"], sm2_ca.intermediate["key_algorithm"]) == ("SM2_256", "SM2_256")
    for ca in (sm2_ca.root, sm2_ca.intermediate):
        der = x509.load_pem_x509_certificate(ca["certificate"].encode()).public_bytes(
            serialization.Encoding.DER
        )
        assert _signature_verifies(der, root_key), ca["common_name"]


async def test_an_sm2_csr_is_issued_under_the_sm2_intermediate(api: httpx.AsyncClient, sm2_ca: Sm2Ca) -> None:
    key = generate_sm2_private_key()

    response = await api.post(
        f"/v1/repositories/{sm2_ca.repository_id}/issue",
        json={"usage": "client", "csr": sm2_csr(key, "client.example.test"), "days": 30},
    )

    assert response.status_code == 201, response.text
    item = response.json()
    assert (item["key_algorithm"], item["signature_algorithm"], item["common_name"]) == (
        "SM2_256", "SM3withSM2", "client.example.test",
    )  # fmt: skip
    assert _public_key(item["pem"]) == key.public_key()
    der = x509.load_pem_x509_certificate(item["pem"].encode()).public_bytes(serialization.Encoding.DER)
    assert _signature_verifies(der, _public_key(sm2_ca.intermediate["certificate"]))


async def test_an_ec_csr_under_the_sm2_intermediate_is_algorithm_mismatch(
    api: httpx.AsyncClient, sm2_ca: Sm2Ca
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec.example.test")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )

    response = await api.post(
        f"/v1/repositories/{sm2_ca.repository_id}/issue", json={"usage": "client", "csr": csr}
    )

    assert (response.status_code, response.json()["code"]) == (400, "AlgorithmMismatch")


async def test_a_generated_sm2_key_is_handed_out_once_and_signs_through_the_api(
    api: httpx.AsyncClient, sm2_ca: Sm2Ca
) -> None:
    issued = await api.post(
        f"/v1/repositories/{sm2_ca.repository_id}/issue",
        json={"usage": "server", "common_name": "gen.example.test", "sans": [{"type": "dns", "value": "gen.example.test"}],
              "exportable": True},
    )  # fmt: skip
    assert issued.status_code == 201, issued.text
    item = issued.json()
    key = load_sm2_private_key(item["private_key"].encode())
    assert sm2_keys_match(key, _public_key(item["pem"]))

    signed = await api.post(
        "/v1/sign",
        json={
            "identifier": item["identifier"],
            "algorithm": "SM3withSM2",
            "message": "hello",
            "message_type": "RAW",
        },
    )

    assert signed.status_code == 200, signed.text
    assert sm2_verify(key.public_key(), b"hello", base64.b64decode(signed.json()["signature"]))


async def test_an_exportable_sm2_key_exports_as_pkcs8_and_pkcs12_is_refused_clearly(
    api: httpx.AsyncClient, sm2_ca: Sm2Ca
) -> None:
    issued = await api.post(
        f"/v1/repositories/{sm2_ca.repository_id}/issue",
        json={"usage": "client", "common_name": "export.example.test", "exportable": True},
    )
    assert issued.status_code == 201, issued.text
    item = issued.json()

    pkcs8 = await api.post(f"/v1/certificates/{item['identifier']}/export-key", json={"format": "pkcs8"})
    pkcs12 = await api.post(
        f"/v1/certificates/{item['identifier']}/export-key", json={"format": "pkcs12", "password": "export-pass-1"}
    )

    assert pkcs8.status_code == 200, pkcs8.text
    assert sm2_keys_match(load_sm2_private_key(pkcs8.json()["private_key"].encode()), _public_key(item["pem"]))
    assert (pkcs12.status_code, pkcs12.json()["code"]) == (400, "UnsupportedOperation")
    assert "PKCS#8" in pkcs12.json()["message"]


async def test_a_revoked_sm2_certificate_is_on_the_sm2_signed_crl_and_ocsp_says_revoked(
    api: httpx.AsyncClient, sm2_ca: Sm2Ca
) -> None:
    issued = await api.post(
        f"/v1/repositories/{sm2_ca.repository_id}/issue",
        json={"usage": "client", "csr": sm2_csr(generate_sm2_private_key(), "revoked.example.test")},
    )
    assert issued.status_code == 201, issued.text
    cert = x509.load_pem_x509_certificate(issued.json()["pem"].encode())
    revoked = await api.post(
        f"/v1/certificates/{issued.json()['identifier']}/revoke", json={"reason": "key_compromise"}
    )
    assert revoked.status_code == 200, revoked.text
    ca_id, ca_key = sm2_ca.intermediate["id"], _public_key(sm2_ca.intermediate["certificate"])

    crl_response = await api.get(f"/crl/{ca_id}.crl", headers={"Authorization": ""})
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, sm2_ca.issuer_cert, hashes.SHA1()).build()
    ocsp_response = await api.post(
        f"/ocsp/{ca_id}",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request", "Authorization": ""},
    )

    crl = x509.load_der_x509_crl(crl_response.content)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert (
        entry is not None
        and entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == "key_compromise"
    )
    parsed_crl = asn1_crl.CertificateList.load(crl_response.content)
    assert sm2_verify(ca_key, parsed_crl["tbs_cert_list"].dump(), parsed_crl["signature"].native)
    answer = ocsp.load_der_ocsp_response(ocsp_response.content)
    assert (answer.certificate_status, answer.serial_number) == (
        ocsp.OCSPCertStatus.REVOKED,
        cert.serial_number,
    )
    basic = asn1_ocsp.OCSPResponse.load(ocsp_response.content)["response_bytes"]["response"].parsed
    assert sm2_verify(ca_key, basic["tbs_response_data"].dump(), basic["signature"].native)
