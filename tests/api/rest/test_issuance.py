"""Issuance and revocation over REST: from a CSR or a generated key, refusals, CRL and OCSP answers
(also after a repository reset), compliant issuance, CRL numbers under concurrent revocations."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.conftest import World
from tests.factories import key_pem, make_chain, pem

from certrepo.app import build_services
from certrepo.domain.enums import CaType, DataSource, IssueUsage, KeyAlgorithm, RevocationReason
from certrepo.domain.repository import Binding
from certrepo.pki.issue import San
from certrepo.services import cas, issuance, repositories, revocation
from certrepo.services.context import Services

pytestmark = pytest.mark.usefixtures("world")
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _csr(
    key: Any, common_name: str = "app.example.test", sans: tuple[str, ...] = ("app.example.test",)
) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@dataclasses.dataclass
class Pki:
    root: dict[str, Any]
    intermediate: dict[str, Any]
    repository_id: int

    @property
    def root_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root["certificate"].encode())

    @property
    def issuer_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.intermediate["certificate"].encode())


async def _pki(api: httpx.AsyncClient, data_source: str = "private", days: int = 365) -> Pki:
    root = await api.post(
        "/v1/cas", json={"type": "root", "common_name": "Issue Root", "key_algorithm": "ECC_256"}
    )
    intermediate = await api.post(
        "/v1/cas",
        json={
            "type": "intermediate",
            "common_name": "Issue CA",
            "key_algorithm": "ECC_256",
            "parent_id": root.json()["id"],
            "days": days,
        },
    )
    assert intermediate.status_code == 201, intermediate.text
    repo = await api.post(
        "/v1/repositories", json={"data_source": data_source, "ca_id": intermediate.json()["id"]}
    )
    assert repo.status_code == 201, repo.text
    return Pki(root.json(), intermediate.json(), repo.json()["id"])


async def _issue(api: httpx.AsyncClient, pki: Pki, **body: Any) -> httpx.Response:
    return await api.post(f"/v1/repositories/{pki.repository_id}/issue", json={"usage": "server", **body})


async def _issued(api: httpx.AsyncClient, pki: Pki, **body: Any) -> dict[str, Any]:
    response = await _issue(api, pki, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _cert(item: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(item["pem"].encode())


async def _crl(api: httpx.AsyncClient, ca_id: int) -> x509.CertificateRevocationList:
    response = await api.get(f"/crl/{ca_id}.crl", headers={"Authorization": ""})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(response.content)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


async def _ocsp(
    api: httpx.AsyncClient, pki: Pki, cert: x509.Certificate, nonce: bytes = b"n" * 16
) -> ocsp.OCSPResponse:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, pki.issuer_cert, hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    response = await api.post(
        f"/ocsp/{pki.intermediate['id']}",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request", "Authorization": ""},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.content)


# --- issuance ---------------------------------------------------------------------------------------


async def test_a_csr_is_issued_with_its_chain_revocation_urls_key_identifiers_and_an_audit_event(
    api: httpx.AsyncClient,
) -> None:
    pki = await _pki(api)
    key = ec.generate_private_key(ec.SECP256R1())

    item = await _issued(
        api,
        pki,
        csr=_csr(key),
        sans=[{"type": "dns", "value": "app.example.test"}, {"type": "ip", "value": "192.0.2.7"}],
        days=30,
    )

    cert = _cert(item)
    cert.verify_directly_issued_by(pki.issuer_cert)
    assert item["chain"] == [pki.intermediate["certificate"], pki.root["certificate"]]
    assert (item["source"], item["status"], item["has_private_key"]) == ("issued", "issued", False)
    assert item["serial_number"] == format(cert.serial_number, "x") and cert.serial_number.bit_length() > 64
    assert cert.public_key() == key.public_key()
    ca_id = pki.intermediate["id"]
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert points[0].full_name[0].value == f"http://127.0.0.1:8080/crl/{ca_id}.crl"
    assert access[0].access_location.value == f"http://127.0.0.1:8080/ocsp/{ca_id}"
    ski = pki.issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ski
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    assert {s["value"] for s in item["sans"]} == {"app.example.test", "192.0.2.7"}
    events = (await api.get("/v1/audit-events", params={"action": "certificate.issue"})).json()["items"]
    assert [e["certificate_id"] for e in events] == [item["identifier"]]


@sqlite_only
@pytest.mark.parametrize("exportable", [True, False], ids=["exportable", "kept"])
async def test_a_generated_key_is_returned_once_only_when_exportable(
    api: httpx.AsyncClient, exportable: bool
) -> None:
    pki = await _pki(api)

    item = await _issued(
        api,
        pki,
        common_name="client-7",
        usage="client",
        exportable=exportable,
        sans=[{"type": "email", "value": "a@example.test"}],
    )

    assert item["has_private_key"] is True and item["exportable"] is exportable
    if exportable:
        key = serialization.load_pem_private_key(item["private_key"].encode(), None)
        assert key.public_key() == _cert(item).public_key()
    else:
        assert item["private_key"] is None
    again = (await api.get(f"/v1/certificates/{item['identifier']}")).json()
    assert "private_key" not in again


def _tampered_csr() -> str:
    # Same length, other name: the self-signature no longer verifies.
    der = x509.load_pem_x509_csr(
        _csr(ec.generate_private_key(ec.SECP256R1()), "good.example.test", ()).encode()
    )
    raw = der.public_bytes(serialization.Encoding.DER).replace(b"good.example", b"evil.example")
    return base64.b64encode(raw).decode()


_IN_A_YEAR = (dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).isoformat()
_BAD_ISSUES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("csr-bad-signature", {"csr": "@tampered"}, 400, "InvalidParameter", "signature"),
    ("csr-rsa-under-ec-ca", {"csr": "@rsa"}, 400, "AlgorithmMismatch", "RSA"),
    (
        "generated-rsa-under-ec-ca",
        {"key_algorithm": "RSA_2048", "common_name": "x"},
        400,
        "AlgorithmMismatch",
        "RSA",
    ),
    (
        "san-ip-as-dns",
        {"common_name": "x", "sans": [{"type": "dns", "value": "192.0.2.1"}]},
        400,
        "InvalidParameter",
        "use type ip",
    ),
    (
        "san-unknown-type",
        {"common_name": "x", "sans": [{"type": "x400", "value": "a"}]},
        400,
        "InvalidParameter",
        "type 'x400'",
    ),
    (
        "past-the-ca",
        {"common_name": "x", "days": 400, "sans": [{"type": "dns", "value": "a.test"}]},
        400,
        "InvalidParameter",
        "past the notAfter",
    ),
    (
        "pair-past-the-ca",
        {"common_name": "x", "not_before": "2030-01-01T00:00:00Z", "not_after": "2099-01-01T00:00:00Z"},
        400,
        "InvalidParameter",
        "refused",
    ),
    (
        "days-and-pair",
        {"common_name": "x", "days": 3, "not_before": "2030-01-01T00:00:00Z", "not_after": _IN_A_YEAR},
        400,
        "InvalidParameter",
        "not both",
    ),
    ("half-a-pair", {"common_name": "x", "not_after": _IN_A_YEAR}, 400, "MissingParameter", "not_before"),
    ("server-without-san", {"common_name": "x"}, 400, "InvalidParameter", "SAN"),
    (
        "document-signing-in-private",
        {"common_name": "x", "usage": "document_signing"},
        400,
        "InvalidParameter",
        "usage",
    ),
    ("exportable-with-csr", {"csr": "@ec", "exportable": True}, 400, "InvalidParameter", "exportable"),
    ("no-subject", {"sans": [{"type": "dns", "value": "a.test"}]}, 400, "MissingParameter", "subject"),
]


@sqlite_only
async def test_every_bad_issue_request_gets_a_4xx_with_its_code_and_a_message_naming_the_problem(
    api: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    pki = await _pki(api, days=365)
    csrs = {
        "@tampered": _tampered_csr,
        "@rsa": lambda: _csr(rsa_key),
        "@ec": lambda: _csr(ec.generate_private_key(ec.SECP256R1())),
    }
    outcomes: dict[str, tuple[int, str, bool]] = {}

    for name, body, _, _, says in _BAD_ISSUES:
        if "csr" in body:
            body = {**body, "csr": csrs[body["csr"]]()}
        response = await _issue(api, pki, **body)
        outcomes[name] = (response.status_code, response.json()["code"], says in response.json()["message"])

    assert outcomes == {name: (status, code, True) for name, _, status, code, _ in _BAD_ISSUES}
    assert (await api.get(f"/v1/repositories/{pki.repository_id}")).json()["certificate_count"] == 0


@sqlite_only
async def test_issuing_into_an_unknown_repository_or_from_an_uploaded_one_is_refused(
    api: httpx.AsyncClient,
) -> None:
    uploaded = (await api.post("/v1/repositories", json={"data_source": "uploaded"})).json()["id"]

    unknown = await api.post("/v1/repositories/999/issue", json={"usage": "client", "common_name": "x"})
    wrong = await api.post(f"/v1/repositories/{uploaded}/issue", json={"usage": "client", "common_name": "x"})

    assert (unknown.status_code, unknown.json()["code"]) == (404, "NotFound.Repository")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "InvalidParameter")


@sqlite_only
async def test_a_reset_repository_answers_disabled_whatever_the_payload(api: httpx.AsyncClient) -> None:
    pki = await _pki(api)
    await api.post(f"/v1/repositories/{pki.repository_id}/reset", json={"acknowledge_risk": True})

    response = await _issue(api, pki, csr="not a csr", usage="document_signing", days=99999)

    assert (response.status_code, response.json()["code"]) == (409, "RepositoryDisabled")


@sqlite_only
async def test_a_compliant_repository_bound_to_an_intermediate_issues_document_signing_certificates(
    api: httpx.AsyncClient,
) -> None:
    pki = await _pki(api, data_source="compliant")

    item = await _issued(api, pki, usage="document_signing", common_name="Signer", organization="Example Ltd")
    with_csr = await _issue(
        api, pki, usage="document_signing", csr=_csr(ec.generate_private_key(ec.SECP256R1()))
    )
    exportable = await _issue(api, pki, usage="document_signing", common_name="S", exportable=True)

    usage = _cert(item).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert (item["has_private_key"], item["exportable"]) == (True, False)
    assert (with_csr.status_code, with_csr.json()["details"]["field"]) == (400, "csr")
    assert (exportable.status_code, exportable.json()["details"]["field"]) == (400, "exportable")


@sqlite_only
async def test_a_compliant_repository_with_a_trust_store_issues_only_under_a_trusted_root(
    api: httpx.AsyncClient,
) -> None:
    pki = await _pki(api, data_source="compliant")
    other = (
        await api.post("/v1/cas", json={"type": "root", "common_name": "Other", "key_algorithm": "ECC_256"})
    ).json()
    outcomes = {}

    for name, trusted_root in (("own root", pki.root), ("other root", other)):
        trust = (await api.post("/v1/repositories", json={"data_source": "uploaded_ca"})).json()["id"]
        await api.post(
            f"/v1/repositories/{trust}/certificates", json={"certificate": trusted_root["certificate"]}
        )
        await api.post(f"/v1/repositories/{pki.repository_id}/reset", json={"acknowledge_risk": True})
        await api.post(
            f"/v1/repositories/{pki.repository_id}/enable",
            json={"data_source": "compliant", "ca_id": pki.intermediate["id"], "trust_repository_id": trust},
        )
        response = await _issue(api, pki, usage="document_signing", common_name="Alice")
        outcomes[name] = (response.status_code, response.json().get("code", "created"))

    assert outcomes == {"own root": (201, "created"), "other root": (400, "ChainInvalid")}


# --- revocation, CRL, OCSP --------------------------------------------------------------------------


async def test_revocation_lists_the_serial_on_a_newer_crl_and_ocsp_turns_revoked(
    api: httpx.AsyncClient,
) -> None:
    pki = await _pki(api)
    item = await _issued(api, pki, csr=_csr(ec.generate_private_key(ec.SECP256R1())))
    cert = _cert(item)
    before_crl = await _crl(api, pki.intermediate["id"])
    before = await _ocsp(api, pki, cert)

    revoked = await api.post(
        f"/v1/certificates/{item['identifier']}/revoke", json={"reason": "key_compromise"}
    )

    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    after_crl = await _crl(api, pki.intermediate["id"])
    assert after_crl.is_signature_valid(pki.issuer_cert.public_key())  # type: ignore[arg-type]
    assert _crl_number(after_crl) > _crl_number(before_crl)
    entry = after_crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )
    after = await _ocsp(api, pki, cert)
    assert before.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert after.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_reason is x509.ReasonFlags.key_compromise
    assert after.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    pem_crl = await api.get(f"/crl/{pki.intermediate['id']}.pem", headers={"Authorization": ""})
    assert x509.load_pem_x509_crl(pem_crl.content).public_bytes(
        serialization.Encoding.DER
    ) == after_crl.public_bytes(serialization.Encoding.DER)


async def test_crl_and_ocsp_keep_answering_after_the_repository_is_reset(api: httpx.AsyncClient) -> None:
    pki = await _pki(api)
    revoked = await _issued(api, pki, csr=_csr(ec.generate_private_key(ec.SECP256R1())))
    kept = await _issued(api, pki, csr=_csr(ec.generate_private_key(ec.SECP256R1())))
    await api.post(f"/v1/certificates/{revoked['identifier']}/revoke", json={"reason": "superseded"})

    reset = await api.post(f"/v1/repositories/{pki.repository_id}/reset", json={"acknowledge_risk": True})
    late = await api.post(
        f"/v1/cas/{pki.intermediate['id']}/revoke",
        json={"serial_number": kept["serial_number"], "reason": "cessation_of_operation"},
    )

    assert reset.status_code == 200 and late.status_code == 200, late.text
    assert (await _ocsp(api, pki, _cert(revoked))).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert (await _ocsp(api, pki, _cert(kept))).revocation_reason is x509.ReasonFlags.cessation_of_operation
    listed = {e.serial_number for e in await _crl(api, pki.intermediate["id"])}
    assert listed == {_cert(revoked).serial_number, _cert(kept).serial_number}


@sqlite_only
async def test_revoking_twice_is_a_conflict_and_remove_from_crl_is_refused(api: httpx.AsyncClient) -> None:
    pki = await _pki(api)
    item = await _issued(api, pki, csr=_csr(ec.generate_private_key(ec.SECP256R1())))

    refused = await api.post(
        f"/v1/certificates/{item['identifier']}/revoke", json={"reason": "remove_from_crl"}
    )
    first = await api.post(f"/v1/certificates/{item['identifier']}/revoke", json={})
    second = await api.post(f"/v1/certificates/{item['identifier']}/revoke", json={})
    by_serial = await api.post(
        f"/v1/cas/{pki.intermediate['id']}/revoke", json={"serial_number": item["serial_number"]}
    )

    assert (refused.status_code, first.status_code) == (400, 200)
    assert (second.status_code, second.json()["code"]) == (409, "CertificateRevoked")
    assert (by_serial.status_code, by_serial.json()["code"]) == (409, "CertificateRevoked")


@sqlite_only
async def test_an_uploaded_certificate_is_revoked_here_only(api: httpx.AsyncClient) -> None:
    chain = make_chain("Third")
    repo = (await api.post("/v1/repositories", json={"data_source": "uploaded"})).json()["id"]
    upload = await api.post(
        f"/v1/repositories/{repo}/certificates",
        json={"certificate": pem(chain.leaf), "private_key": key_pem(chain.leaf_key)},
    )
    identifier = upload.json()["items"][0]["identifier"]

    revoked = await api.post(f"/v1/certificates/{identifier}/revoke", json={"reason": "affiliation_changed"})

    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.json()["revocation_reason"]) == (
        "revoked",
        "affiliation_changed",
    )
    shown = (await api.get(f"/v1/certificates/{identifier}")).json()
    assert shown["status"] == "revoked"


@sqlite_only
async def test_ocsp_over_get_answers_unknown_for_a_foreign_serial_and_refuses_garbage(
    api: httpx.AsyncClient,
) -> None:
    pki = await _pki(api)
    stranger = make_chain("Stranger")
    fake = x509.CertificateBuilder().subject_name(stranger.leaf.subject).issuer_name(pki.issuer_cert.subject)
    fake = fake.public_key(stranger.leaf_key.public_key()).serial_number(12345)
    fake = fake.not_valid_before(dt.datetime(2024, 1, 1)).not_valid_after(dt.datetime(2034, 1, 1))
    unknown_cert = fake.sign(stranger.leaf_key, hashes.SHA256())  # type: ignore[arg-type]
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(unknown_cert, pki.issuer_cert, hashes.SHA256()).build()
    )
    encoded = base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()

    unknown = await api.get(f"/ocsp/{pki.intermediate['id']}/{encoded}", headers={"Authorization": ""})
    garbage = await api.get(f"/ocsp/{pki.intermediate['id']}/bm90IG9jc3A=", headers={"Authorization": ""})
    other_ca = await api.get(f"/ocsp/{pki.root['id']}/{encoded}", headers={"Authorization": ""})

    assert ocsp.load_der_ocsp_response(unknown.content).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert (
        ocsp.load_der_ocsp_response(garbage.content).response_status
        is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )
    assert (
        ocsp.load_der_ocsp_response(other_ca.content).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    )
    missing = await api.get("/crl/999.crl", headers={"Authorization": ""})
    assert (missing.status_code, missing.json()["code"]) == (404, "NotFound.CA")


# --- services: the CRL over time, and two nodes -------------------------------------------------------


async def _service_pki(services: Services, world: World) -> tuple[int, int]:
    call = world.admin_call
    root = await cas.create_ca(services, call, cas.CaSpec(CaType.ROOT, "Svc Root", KeyAlgorithm.ECC_256))
    intermediate = await cas.create_ca(
        services,
        call,
        cas.CaSpec(CaType.INTERMEDIATE, "Svc CA", KeyAlgorithm.ECC_256, parent_id=root.id, validity_days=90),
    )
    repo = await repositories.create_repository(
        services, call, name="svc", binding=Binding(DataSource.PRIVATE, ca_id=intermediate.id)
    )
    assert repo.id is not None
    return intermediate.id, repo.id


async def _issue_one(services: Services, world: World, repository_id: int, days: int = 30) -> str:
    issued = await issuance.issue_certificate(
        services,
        world.admin_call,
        repository_id,
        issuance.IssueRequest(
            usage=IssueUsage.CLIENT,
            common_name="svc-client",
            sans=(San("dns", "svc.test"),),
            validity_days=days,
        ),
    )
    return issued.certificate.identifier


@sqlite_only
async def test_an_expired_certificate_leaves_the_crl_when_it_is_next_signed(world: World) -> None:
    ca_id, repo_id = await _service_pki(world.services, world)
    short = await _issue_one(world.services, world, repo_id, days=1)
    long = await _issue_one(world.services, world, repo_id, days=30)
    for identifier in (short, long):
        await revocation.revoke_certificate(world.services, world.admin_call, identifier)
    later = dataclasses.replace(world.services, clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=3))

    record = await revocation.current_crl(later, ca_id)

    listed = {format(e.serial_number, "x") for e in x509.load_der_x509_crl(record.der)}
    async with world.services.uow(read_only=True) as uow:
        long_serial = (await uow.certificates.get(long)).serial_number  # type: ignore[union-attr]
    assert listed == {long_serial} and record.crl_number == 4  # creation, two revocations, refresh


@pytest.fixture
async def second_node(world: World) -> AsyncIterator[Services]:
    services, _ = build_services(world.settings)
    try:
        yield services
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def test_concurrent_revocations_on_two_nodes_get_distinct_increasing_crl_numbers(
    world: World, second_node: Services
) -> None:
    ca_id, repo_id = await _service_pki(world.services, world)
    identifiers = [await _issue_one(world.services, world, repo_id) for _ in range(6)]

    await asyncio.gather(
        *[
            revocation.revoke_certificate(
                node, world.admin_call, identifier, reason=RevocationReason.SUPERSEDED
            )
            for node, identifier in zip([world.services, second_node] * 3, identifiers, strict=True)
        ]
    )

    record = await revocation.current_crl(second_node, ca_id)
    crl = x509.load_der_x509_crl(record.der)
    # Six revocations after the creation CRL (number 1): every one drew its own number, and the newest CRL
    # saw every revocation committed before it.
    assert record.crl_number == _crl_number(crl) == 7
    assert len(list(crl)) == 6
