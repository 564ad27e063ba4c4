"""CAs in the console (list, create root or intermediate, import), issuing into a private repository
(generated key shown once, CSR, refusals next to their field), and the expiring-soon page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from certrepo.domain.enums import CaType, DataSource
from certrepo.domain.paging import Page
from certrepo.services.cas_read import list_cas
from certrepo.services.certificates import CertificateFilter, get_certificate, list_certificates
from tests.conftest import World
from tests.factories import build, ec_key, key_pem, make_chain, pem

from .conftest import Browser
from .pki import new_repository, private_ca, private_repository, unique, upload_leaf

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _ca_named(world: World, common_name: str) -> int:
    found = [
        ca.id for ca in await list_cas(world.services, world.admin_call) if ca.common_name == common_name
    ]
    assert len(found) == 1, f"expected one CA named {common_name}, found {len(found)}"
    return found[0]


async def _only_certificate(world: World, repository_id: int) -> str:
    page = await list_certificates(
        world.services, world.admin_call, repository_id, page=Page(1, 10), where=CertificateFilter()
    )
    assert page.total == 1
    return page.items[0].identifier


# --- CAs ----------------------------------------------------------------------------------------------


async def test_the_cas_page_lists_type_key_parent_bound_repository_and_revocation_links(
    shared_admin: Browser, shared_world: World
) -> None:
    rid, intermediate = await private_repository(shared_world)
    page = await shared_admin.client.get("/console/cas")
    assert page.status_code == 200 and 'class="quota"' in page.text
    row = re.search(rf'<tr id="ca-{intermediate.id}">(.*?)</tr>', page.text, re.DOTALL)
    assert row, page.text
    assert "Intermediate" in row.group(1) and "ECC_256" in row.group(1)
    assert f'href="/console/repositories/{rid}"' in row.group(1)
    assert f"/crl/{intermediate.id}.crl" in row.group(1) and f"/crl/{intermediate.id}.pem" in row.group(1)
    assert f"/ocsp/{intermediate.id}" in row.group(1)
    assert f'href="#ca-{intermediate.parent_id}"' in row.group(1)
    pem_file = await shared_admin.client.get(f"/console/cas/{intermediate.id}/certificate.pem")
    assert (
        x509.load_pem_x509_certificate(pem_file.content)
        .subject.rfc4514_string()
        .endswith(str(intermediate.common_name))
    )


async def test_a_root_and_then_an_intermediate_are_created_from_the_panel(
    shared_admin: Browser, shared_world: World
) -> None:
    root_name, issuing_name = unique("Panel Root"), unique("Panel Issuing")
    root = await shared_admin.htmx_post(
        "/console/cas",
        {
            "type": "root",
            "common_name": root_name,
            "key_algorithm": "ECC_256",
            "organization": "Example",
            "country": "cn",
        },
        trigger="ca-form",
        current="/console/cas",
    )
    assert root.status_code == 200, root.text
    assert f"Root CA “{root_name}” created" in root.text
    root_id = await _ca_named(shared_world, root_name)
    panel = await shared_admin.htmx_get("/console/cas/new")
    assert f'<option value="{root_id}">' in panel.text
    intermediate = await shared_admin.htmx_post(
        "/console/cas",
        {
            "type": "intermediate",
            "parent_id": str(root_id),
            "common_name": issuing_name,
            "key_algorithm": "ECC_384",
            "days": "90",
        },
        trigger="ca-form",
        current="/console/cas",
    )
    assert intermediate.status_code == 200, intermediate.text
    created = next(
        ca
        for ca in await list_cas(shared_world.services, shared_world.admin_call)
        if ca.common_name == issuing_name
    )
    assert (
        created.type is CaType.INTERMEDIATE
        and created.parent_id == root_id
        and created.key_algorithm == "ECC_384"
    )
    repositories_panel = await shared_admin.htmx_get("/console/repositories/new")
    assert f'<option value="{created.id}">' in repositories_panel.text  # free to bind


@pytest.mark.parametrize(
    ("form", "slot", "message"),
    [
        ({"type": "intermediate", "common_name": "x", "key_algorithm": "ECC_256"}, "parent_id", "parent CA"),
        (
            {"type": "intermediate", "parent_id": "999999", "common_name": "x", "key_algorithm": "ECC_256"},
            "parent_id",
            "does not exist",
        ),
        ({"type": "root", "common_name": " ", "key_algorithm": "ECC_256"}, "common_name", "common name"),
        (
            {"type": "root", "common_name": "x", "key_algorithm": "ECC_256", "country": "China"},
            "country",
            "at most 2",
        ),
        ({"type": "root", "common_name": "x", "key_algorithm": "DSA_1024"}, "key_algorithm", "is not one of"),
        (
            {"type": "root", "common_name": "x", "key_algorithm": "ECC_256", "path_len": "99"},
            "path_len",
            "0 to 16",
        ),
        (
            {"type": "root", "common_name": "x", "key_algorithm": "ECC_256", "days": "0"},
            "days",
            "positive whole",
        ),
    ],
    ids=[
        "intermediate-without-parent",
        "unknown-parent",
        "no-name",
        "bad-country",
        "bad-algorithm",
        "path-len",
        "days",
    ],
)
async def test_a_create_ca_refusal_is_shown_next_to_its_field(
    shared_admin: Browser, shared_world: World, form: dict[str, str], slot: str, message: str
) -> None:
    before = len(await list_cas(shared_world.services, shared_world.admin_call))
    response = await shared_admin.htmx_post("/console/cas", form, trigger="ca-form")
    assert response.status_code in (400, 404), response.text
    assert message in response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#ca-form-{slot}-error"
    panel = await shared_admin.htmx_get("/console/cas/new")
    assert f'id="ca-form-{slot}-error"' in panel.text
    assert len(await list_cas(shared_world.services, shared_world.admin_call)) == before


async def test_an_intermediate_outliving_its_parent_is_refused_next_to_the_days(
    shared_admin: Browser, shared_world: World
) -> None:
    root, _ = await private_ca(shared_world)
    response = await shared_admin.htmx_post(
        "/console/cas",
        {
            "type": "intermediate",
            "parent_id": str(root.id),
            "common_name": "too long",
            "key_algorithm": "ECC_256",
            "days": "36000",
        },
        trigger="ca-form",
    )
    assert response.status_code == 400 and "past the notAfter" in response.text
    assert response.headers["HX-Retarget"].startswith("#ca-form-days-error")


async def test_a_ca_is_imported_with_its_key(shared_admin: Browser, shared_world: World) -> None:
    prefix = unique("Imported")
    chain = make_chain(prefix)
    response = await shared_admin.htmx_post(
        "/console/cas/import",
        {
            "certificate": pem(chain.intermediate),
            "private_key": key_pem(chain.intermediate_key),
            "chain": pem(chain.root),
        },
        trigger="ca-import-form",
        current="/console/cas",
    )
    assert response.status_code == 200, response.text
    assert f"CA “{prefix} Intermediate” imported" in response.text
    cas = await list_cas(shared_world.services, shared_world.admin_call)
    imported = [ca for ca in cas if ca.common_name == f"{prefix} Intermediate"]
    assert len(imported) == 1 and imported[0].imported and imported[0].has_private_key


@pytest.mark.parametrize(
    ("case", "slot", "code"),
    [
        ("wrong-key", "private_key", "KeyMismatch"),
        ("no-key", "private_key", "MissingParameter"),
        ("missing-root", "chain", "ChainIncomplete"),
        ("not-a-ca", "certificate", "InvalidParameter"),
    ],
)
async def test_an_import_refusal_is_shown_next_to_its_field(
    shared_admin: Browser, shared_world: World, case: str, slot: str, code: str
) -> None:
    chain = make_chain(unique("Refused"))
    form = {
        "wrong-key": {
            "certificate": pem(chain.intermediate),
            "private_key": key_pem(ec_key()),
            "chain": pem(chain.root),
        },
        "no-key": {"certificate": pem(chain.intermediate), "chain": pem(chain.root)},
        "missing-root": {
            "certificate": pem(chain.intermediate),
            "private_key": key_pem(chain.intermediate_key),
        },
        "not-a-ca": {
            "certificate": pem(chain.leaf),
            "private_key": key_pem(chain.leaf_key),
            "chain": pem(chain.intermediate) + pem(chain.root),
        },
    }[case]
    response = await shared_admin.htmx_post("/console/cas/import", form, trigger="ca-import-form")
    assert response.status_code == 400, response.text
    assert code in response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#ca-import-form-{slot}-error"


# --- issue ----------------------------------------------------------------------------------------------


async def test_the_issue_panel_offers_the_ca_family_profiles_sans_and_validity(
    shared_admin: Browser, shared_world: World
) -> None:
    rid, ca = await private_repository(shared_world)
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/issue")
    assert panel.status_code == 200
    assert 'value="ECC_256" selected' in panel.text and 'value="ECC_384"' in panel.text
    assert 'value="RSA_2048"' not in panel.text  # an EC CA issues EC keys only
    assert 'name="usage" value="server"' in panel.text and 'name="usage" value="client"' in panel.text
    assert 'name="key_source" value="csr"' in panel.text and panel.text.count('name="san_value"') >= 3
    assert 'name="days"' in panel.text and 'name="not_after"' in panel.text
    assert str(ca.common_name) in panel.text


async def test_issuing_with_a_generated_exportable_key_shows_the_key_once(
    shared_admin: Browser, shared_world: World
) -> None:
    rid, ca = await private_repository(shared_world)
    form: dict[str, str | list[str]] = {
        "usage": "server",
        "key_source": "generate",
        "key_algorithm": "ECC_256",
        "exportable": "true",
        "common_name": "api.internal.example",
        "organization": "Example",
        "country": "cn",
        "san_type": ["dns", "ip", "dns"],
        "san_value": ["api.internal.example", "10.0.0.7", ""],
        "validity": "days",
        "days": "30",
    }
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/issue",
        form,
        trigger="issue-form",
        current=f"/console/repositories/{rid}",
    )
    assert response.status_code == 200, response.text
    assert "Certificate “api.internal.example” issued." in response.text
    found = re.search(r"(-----BEGIN PRIVATE KEY-----[^<]+-----END PRIVATE KEY-----)", response.text)
    assert found and "shown only this once" in response.text
    identifier = await _only_certificate(shared_world, rid)
    issued = await get_certificate(shared_world.services, shared_world.admin_call, identifier)
    assert {(s.type, s.value) for s in issued.sans} == {("dns", "api.internal.example"), ("ip", "10.0.0.7")}
    assert issued.issuing_ca_id == ca.id and issued.exportable
    assert dt.timedelta(days=29) < issued.not_after - issued.not_before <= dt.timedelta(days=30, minutes=2)
    key = serialization.load_pem_private_key(found.group(1).encode(), None)
    cert = x509.load_pem_x509_certificate(issued.pem.encode())
    assert key.public_key() == cert.public_key()
    later = await shared_admin.client.get(f"/console/repositories/{rid}")
    assert "BEGIN PRIVATE KEY" not in later.text


async def test_issuing_for_a_csr_takes_its_key_and_dates(shared_admin: Browser, shared_world: World) -> None:
    rid, _ca = await private_repository(shared_world)
    requester = ec_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-17")]))
        .sign(requester, hashes.SHA256())
    )
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/issue",
        {
            "usage": "client",
            "key_source": "csr",
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "key_algorithm": "ECC_256",  # hidden with a CSR: ignored
            "exportable": "true",  # hidden with a CSR: ignored
            "validity": "dates",
            "not_before": start,
            "not_after": end,
            "days": "365",  # hidden with dates: ignored
        },
        trigger="issue-form",
    )
    assert response.status_code == 200, response.text
    assert "BEGIN PRIVATE KEY" not in response.text
    issued = await get_certificate(
        shared_world.services, shared_world.admin_call, await _only_certificate(shared_world, rid)
    )
    assert issued.common_name == "device-17" and not issued.has_private_key
    assert issued.not_after.strftime("%Y-%m-%dT%H:%M") == end
    assert x509.load_pem_x509_certificate(issued.pem.encode()).public_key() == requester.public_key()


@pytest.mark.parametrize(
    ("changes", "slot", "message"),
    [
        ({"san_type": "dns", "san_value": "not a name"}, "sans", "is not a DNS name"),
        ({"san_type": "smtp", "san_value": "x"}, "sans", "choose DNS, email, URI or IP"),
        ({"days": "3000"}, "days", "past the notAfter"),
        ({"key_algorithm": "RSA_2048"}, "key_algorithm", "issues EC keys only"),
        ({"key_source": "csr", "csr": "garbage"}, "csr", "neither PEM nor base64"),
        (
            {
                "key_source": "csr",
                "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
            },
            "csr",
            "not a PEM or DER PKCS#10",
        ),
        ({"key_source": "csr", "csr": ""}, "csr", "choose a CSR file or paste it"),
        ({"common_name": ""}, "common_name", "needs a subject"),
        ({"country": "China"}, "country", "at most 2"),
        ({"validity": "dates", "not_before": "2030-01-01T00:00", "not_after": ""}, "not_after", "not_after"),
        ({"validity": "dates", "not_before": "soon", "not_after": "later"}, "not_before", "YYYY-MM-DD"),
        ({"usage": "document_signing"}, "usage", "does not fit a private repository"),
        ({"custom_identifier": "has space"}, "custom_identifier", "custom_identifier must be"),
    ],
    ids=[
        "bad-san",
        "bad-san-type",
        "past-the-ca",
        "other-key-family",
        "csr-garbage",
        "csr-broken-pem",
        "csr-missing",
        "no-subject",
        "bad-country",
        "half-dates",
        "bad-date",
        "wrong-profile",
        "bad-custom-identifier",
    ],
)
async def test_an_issue_refusal_is_shown_next_to_the_field_that_caused_it(
    shared_admin: Browser, shared_world: World, changes: dict[str, str], slot: str, message: str
) -> None:
    rid, _ca = await private_repository(shared_world)
    form = {
        "usage": "server",
        "key_source": "generate",
        "common_name": "svc.example",
        "validity": "days",
        "days": "30",
    }
    form.update(changes)
    response = await shared_admin.htmx_post(f"/console/repositories/{rid}/issue", form, trigger="issue-form")
    assert response.status_code == 400, response.text
    assert message in response.text, response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#issue-form-{slot}-error"
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/issue")
    assert f'id="issue-form-{slot}-error"' in panel.text
    listed = await list_certificates(
        shared_world.services, shared_world.admin_call, rid, page=Page(1, 10), where=CertificateFilter()
    )
    assert listed.total == 0


async def test_a_repository_without_a_ca_offers_no_issue(shared_admin: Browser, shared_world: World) -> None:
    rid = await new_repository(shared_world, DataSource.UPLOADED)
    page = await shared_admin.client.get(f"/console/repositories/{rid}")
    assert 'id="open-issue"' not in page.text
    refused = await shared_admin.htmx_get(f"/console/repositories/{rid}/issue")
    assert refused.status_code == 400 and "has no intermediate CA" in refused.text


async def test_an_issued_certificate_is_revoked_onto_its_cas_crl(
    shared_admin: Browser, shared_world: World
) -> None:
    rid, ca = await private_repository(shared_world)
    await shared_admin.htmx_post(
        f"/console/repositories/{rid}/issue",
        {"usage": "client", "common_name": "leaving.example", "days": "10"},
        trigger="issue-form",
    )
    identifier = await _only_certificate(shared_world, rid)
    path = f"/console/certificates/{identifier}"
    dialog = await shared_admin.htmx_get(f"{path}/revoke")
    assert "Its CA's CRL and OCSP responder will say so at once." in dialog.text
    response = await shared_admin.htmx_post(
        f"{path}/revoke", {"reason": "superseded"}, trigger="revoke-form", current=path
    )
    assert response.status_code == 200 and "CRL and OCSP answers now" in response.text
    crl = x509.load_der_x509_crl((await shared_admin.client.get(f"/crl/{ca.id}.crl")).content)
    issued = await get_certificate(shared_world.services, shared_world.admin_call, identifier)
    assert crl.get_revoked_certificate_by_serial_number(int(issued.serial_number, 16)) is not None


# --- expiring soon --------------------------------------------------------------------------------------


def _expiring_in(days: int, prefix: str):  # type: ignore[no-untyped-def]
    chain = make_chain(prefix)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    chain.leaf = build(
        f"{prefix.lower()}.example.com",
        chain.leaf_key,
        issuer=(chain.intermediate, chain.intermediate_key),
        days=days + 1,
        not_before=start,
        sans=[f"{prefix.lower()}.example.com"],
    )
    return chain


async def test_the_expiring_page_lists_soonest_first_with_badges_within_the_window(
    shared_admin: Browser, shared_world: World
) -> None:
    rid = await new_repository(shared_world)
    soon, later, far = unique("soon"), unique("later"), unique("far")
    for days, prefix in ((20, later), (3, soon), (200, far)):
        await upload_leaf(shared_world, rid, _expiring_in(days, prefix))
    page = await shared_admin.client.get("/console/expiring?within_days=30")
    assert page.status_code == 200 and 'class="quota"' in page.text
    text = page.text
    assert (
        f"{soon}.example.com" in text and f"{later}.example.com" in text and f"{far}.example.com" not in text
    )
    assert text.index(f"{soon}.example.com") < text.index(f"{later}.example.com")
    assert re.search(r'badge bad">[23] days left', text) and re.search(r'badge warn">(19|20) days left', text)
    wider = await shared_admin.client.get("/console/expiring?within_days=365")
    assert f"{far}.example.com" in wider.text


async def test_an_unusable_expiry_window_is_explained(shared_admin: Browser) -> None:
    response = await shared_admin.client.get("/console/expiring?within_days=forever")
    assert response.status_code == 400 and "positive whole number" in response.text


async def test_the_navigation_leads_to_cas_and_expiring_on_every_page(shared_admin: Browser) -> None:
    for path in ("/console/repositories", "/console/cas", "/console/expiring"):
        page = await shared_admin.client.get(path)
        assert 'href="/console/cas"' in page.text and 'href="/console/expiring"' in page.text, path
    cas = await shared_admin.client.get("/console/cas")
    assert 'href="/console/cas" aria-current="page"' in cas.text


async def test_a_compliant_repository_bound_to_a_ca_issues_document_signing_keys_it_keeps(
    shared_admin: Browser, shared_world: World
) -> None:
    _root, intermediate = await private_ca(shared_world)
    rid = await new_repository(shared_world, DataSource.COMPLIANT, ca_id=intermediate.id)
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/issue")
    assert 'name="usage" value="document_signing"' in panel.text and 'value="server"' not in panel.text
    assert 'name="key_source"' not in panel.text and 'name="exportable"' not in panel.text
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/issue",
        {
            "usage": "document_signing",
            "common_name": "Li Lei",
            "organization": "Example Contracts",
            "days": "30",
        },
        trigger="issue-form",
    )
    assert response.status_code == 200, response.text
    assert "stays in the repository" in response.text and "BEGIN PRIVATE KEY" not in response.text
    issued = await get_certificate(
        shared_world.services, shared_world.admin_call, await _only_certificate(shared_world, rid)
    )
    assert issued.has_private_key and not issued.exportable
