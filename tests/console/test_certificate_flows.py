"""Certificates in the console: the Upload panel (paste or files; refusals next to their field), the
certificate page, downloads, key export, revoke with a reason, delete."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certrepo.domain.enums import CertificateStatus, DataSource, RevocationReason
from certrepo.domain.errors import CertificateNotFound
from certrepo.domain.paging import Page
from certrepo.services.certificates import CertificateFilter, get_certificate, list_certificates
from tests.conftest import World
from tests.factories import Chain, build, ec_key, key_pem, make_chain, pem

from .conftest import Browser
from .pki import der, new_repository, unique, upload_leaf

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Upload")


async def _listed(world: World, repository_id: int) -> list[str]:
    page = await list_certificates(
        world.services, world.admin_call, repository_id, page=Page(1, 50), where=CertificateFilter()
    )
    return [c.identifier for c in page.items]


# --- upload -------------------------------------------------------------------------------------------


async def test_the_upload_panel_asks_for_certificate_key_chain_and_password(
    shared_admin: Browser, shared_world: World
) -> None:
    rid = await new_repository(shared_world)
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/upload")
    assert panel.status_code == 200
    for field in ("certificate_file", "certificate", "private_key", "chain", "password", "exportable"):
        assert f'name="{field}"' in panel.text, field
    assert 'enctype="multipart/form-data"' in panel.text


async def test_a_pasted_certificate_with_key_and_chain_is_uploaded_and_listed(
    shared_admin: Browser, shared_world: World
) -> None:
    chain = make_chain("Pasted")
    rid = await new_repository(shared_world)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {
            "certificate": pem(chain.leaf),
            "private_key": key_pem(chain.leaf_key),
            "chain": pem(chain.intermediate) + pem(chain.root),
            "name": "web front",
            "exportable": "true",
        },
        trigger="upload-form",
        current=f"/console/repositories/{rid}",
    )
    assert response.status_code == 200, response.text
    assert "Certificate “pasted.example.com” uploaded" in response.text
    [identifier] = await _listed(shared_world, rid)
    stored = await get_certificate(shared_world.services, shared_world.admin_call, identifier)
    assert stored.has_private_key and stored.exportable and stored.name == "web front"
    assert f'href="/console/certificates/{identifier}"' in response.text


async def test_chosen_files_are_uploaded_like_pasted_text_even_binary_der(
    shared_admin: Browser, shared_world: World
) -> None:
    chain = make_chain("Filed")
    rid = await new_repository(shared_world)
    key_der = chain.leaf_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {"certificate": "", "private_key": ""},
        trigger="upload-form",
        files={
            "certificate_file": ("leaf.der", der(chain.leaf)),
            "private_key_file": ("leaf.key", key_der),
            "chain_file": ("chain.pem", (pem(chain.intermediate) + pem(chain.root)).encode()),
        },
    )
    assert response.status_code == 200, response.text
    [identifier] = await _listed(shared_world, rid)
    stored = await get_certificate(shared_world.services, shared_world.admin_call, identifier)
    assert stored.common_name == "filed.example.com" and stored.has_private_key


def _expired_leaf(chain: Chain) -> x509.Certificate:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    return build(
        "old.example.com",
        chain.leaf_key,
        issuer=(chain.intermediate, chain.intermediate_key),
        days=10,
        not_before=start,
    )


@pytest.mark.parametrize(
    ("case", "slot", "code"),
    [
        ("key-of-another-certificate", "private_key", "KeyMismatch"),
        ("intermediate-missing", "certificate", "ChainIncomplete"),
        ("expired", "certificate", "CertificateExpired"),
        ("no-certificate", "certificate", "MissingParameter"),
        ("not-a-certificate", "certificate", "InvalidParameter"),
        ("encrypted-key-without-password", "password", "InvalidParameter"),
        ("wrong-password", "password", "InvalidParameter"),
        ("exportable-without-key", "exportable", "InvalidParameter"),
        ("bad-custom-identifier", "custom_identifier", "InvalidParameter"),
    ],
)
async def test_an_upload_refusal_is_shown_next_to_the_field_that_caused_it(
    shared_admin: Browser, shared_world: World, chain: Chain, case: str, slot: str, code: str
) -> None:
    leaf, key, issuers = pem(chain.leaf), key_pem(chain.leaf_key), pem(chain.intermediate) + pem(chain.root)
    form = {
        "key-of-another-certificate": {
            "certificate": leaf,
            "private_key": key_pem(ec_key()),
            "chain": issuers,
        },
        "intermediate-missing": {"certificate": leaf, "private_key": key, "chain": pem(chain.root)},
        "expired": {"certificate": pem(_expired_leaf(chain)), "chain": issuers},
        "no-certificate": {"certificate": "  ", "private_key": key},
        "not-a-certificate": {
            "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        },
        "encrypted-key-without-password": {
            "certificate": leaf,
            "private_key": key_pem(chain.leaf_key, b"s3cret"),
            "chain": issuers,
        },
        "wrong-password": {
            "certificate": leaf,
            "private_key": key_pem(chain.leaf_key, b"s3cret"),
            "chain": issuers,
            "password": "not-it",
        },
        "exportable-without-key": {"certificate": leaf, "chain": issuers, "exportable": "true"},
        "bad-custom-identifier": {"certificate": leaf, "chain": issuers, "custom_identifier": "no spaces"},
    }[case]
    rid = await new_repository(shared_world)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload", form, trigger="upload-form"
    )
    assert response.status_code in (400, 413), response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#upload-form-{slot}-error"
    assert code in response.text and "Traceback" not in response.text
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/upload")
    assert f'id="upload-form-{slot}-error"' in panel.text  # the slot is there, next to its field
    assert await _listed(shared_world, rid) == []


async def test_an_expired_certificate_is_kept_when_allowed_with_a_warning(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid = await new_repository(shared_world)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {
            "certificate": pem(_expired_leaf(chain)),
            "chain": pem(chain.intermediate) + pem(chain.root),
            "allow_expired": "true",
        },
        trigger="upload-form",
    )
    assert response.status_code == 200, response.text
    assert "1 warning" in response.text and "expired on" in response.text
    assert len(await _listed(shared_world, rid)) == 1


async def test_an_uploaded_ca_repository_takes_a_root_and_its_intermediate(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid = await new_repository(shared_world, DataSource.UPLOADED_CA)
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/upload")
    assert "Upload CA certificates" in panel.text and 'name="private_key"' not in panel.text
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {"certificate": pem(chain.intermediate), "chain": pem(chain.root)},
        trigger="upload-form",
    )
    assert response.status_code == 200 and "2 CA certificates uploaded." in response.text
    assert "Download CA bundle" in response.text
    bundle = await shared_admin.client.get(f"/console/repositories/{rid}/ca-bundle.pem")
    assert bundle.status_code == 200 and bundle.text.count("BEGIN CERTIFICATE") == 2


async def test_a_private_repository_offers_no_upload(shared_admin: Browser, shared_world: World) -> None:
    from .pki import private_repository

    rid, _ca = await private_repository(shared_world)
    page = await shared_admin.client.get(f"/console/repositories/{rid}")
    assert 'id="open-upload"' not in page.text and 'id="open-issue"' in page.text
    refused = await shared_admin.htmx_get(f"/console/repositories/{rid}/upload")
    assert refused.status_code == 400 and "issue one instead of uploading" in refused.text


async def test_a_plain_form_upload_redirects_to_the_repository(
    shared_admin: Browser, shared_world: World
) -> None:
    chain = make_chain("Plain")
    rid = await new_repository(shared_world)
    response = await shared_admin.client.post(
        f"/console/repositories/{rid}/upload",
        data={
            "csrf_token": shared_admin.csrf,
            "certificate": pem(chain.leaf),
            "chain": pem(chain.intermediate) + pem(chain.root),
        },
    )
    assert response.status_code == 303 and response.headers["location"] == f"/console/repositories/{rid}"


# --- the certificate page and downloads -----------------------------------------------------------------


async def test_the_certificate_page_shows_details_sans_fingerprints_and_chain(
    shared_admin: Browser, shared_world: World
) -> None:
    chain = make_chain("Shown")
    rid = await new_repository(shared_world)
    stored = await upload_leaf(shared_world, rid, chain)
    page = await shared_admin.client.get(f"/console/certificates/{stored.identifier}")
    assert page.status_code == 200
    text = page.text
    assert "shown.example.com" in text and stored.serial_number in text
    assert stored.fingerprint_sha256 in text and stored.fingerprint_sha1 in text
    assert "Shown Intermediate" in text and "Shown Root" in text and "self-signed root" in text
    assert ">DNS<" in text and 'class="quota"' in text
    assert 'id="open-revoke"' in text and 'id="open-delete"' in text


@pytest.mark.parametrize(
    ("name", "blocks"), [("certificate.pem", 1), ("chain.pem", 2), ("fullchain.pem", 3)], ids=str
)
async def test_a_certificate_downloads_as_pem_files(
    shared_admin: Browser, shared_world: World, name: str, blocks: int
) -> None:
    chain = make_chain("Download")
    stored = await upload_leaf(shared_world, await new_repository(shared_world), chain)
    response = await shared_admin.client.get(f"/console/certificates/{stored.identifier}/{name}")
    assert response.status_code == 200 and response.text.count("-----BEGIN CERTIFICATE-----") == blocks
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "download.example.com" in disposition
    first = x509.load_pem_x509_certificate(response.text.encode())
    assert first == (chain.leaf if name != "chain.pem" else chain.intermediate)


async def test_an_unknown_certificate_is_a_404_page(shared_admin: Browser) -> None:
    response = await shared_admin.client.get("/console/certificates/no-such-certificate")
    assert response.status_code == 404 and "certificate no-such-certificate does not exist" in response.text


# --- key export ---------------------------------------------------------------------------------------


async def test_an_exportable_key_is_shown_once_in_the_export_panel(
    shared_admin: Browser, shared_world: World
) -> None:
    chain = make_chain("Exported")
    stored = await upload_leaf(shared_world, await new_repository(shared_world), chain, exportable=True)
    page = await shared_admin.client.get(f"/console/certificates/{stored.identifier}")
    assert "Export the private key" in page.text and "BEGIN PRIVATE KEY" not in page.text
    response = await shared_admin.htmx_post(
        f"/console/certificates/{stored.identifier}/export-key",
        {"format": "pkcs8", "password": ""},
        trigger="export-form",
    )
    assert response.status_code == 200
    found = re.search(r"(-----BEGIN PRIVATE KEY-----[^<]+-----END PRIVATE KEY-----)", response.text)
    assert found, response.text
    key = serialization.load_pem_private_key(found.group(1).encode(), None)
    assert key.public_key() == chain.leaf_key.public_key()


async def test_a_plain_form_export_saves_a_pkcs12_file(shared_admin: Browser, shared_world: World) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    chain = make_chain("Pfx")
    stored = await upload_leaf(shared_world, await new_repository(shared_world), chain, exportable=True)
    response = await shared_admin.client.post(
        f"/console/certificates/{stored.identifier}/export-key",
        data={"csrf_token": shared_admin.csrf, "format": "pkcs12", "password": "pfx-password"},
    )
    assert response.status_code == 200 and response.headers["content-disposition"].endswith('.p12"')
    bundle = pkcs12.load_pkcs12(response.content, b"pfx-password")
    assert bundle.cert is not None and bundle.cert.certificate == chain.leaf


@pytest.mark.parametrize(
    ("exportable", "form", "slot", "status"),
    [
        (True, {"format": "pkcs12", "password": ""}, "password", 400),
        (False, {"format": "pkcs8"}, "format", 403),
    ],
    ids=["pkcs12-without-password", "not-exportable"],
)
async def test_an_export_refusal_is_shown_next_to_its_field(
    shared_admin: Browser, shared_world: World, exportable: bool, form: dict[str, str], slot: str, status: int
) -> None:
    stored = await upload_leaf(
        shared_world, await new_repository(shared_world), make_chain("Refused"), exportable=exportable
    )
    response = await shared_admin.htmx_post(
        f"/console/certificates/{stored.identifier}/export-key", form, trigger="export-form"
    )
    assert response.status_code == status
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#export-form-{slot}-error"
    assert "BEGIN PRIVATE KEY" not in response.text


# --- revoke and delete --------------------------------------------------------------------------------


async def test_revoking_asks_for_an_rfc_5280_reason_and_records_it(
    shared_admin: Browser, shared_world: World
) -> None:
    stored = await upload_leaf(shared_world, await new_repository(shared_world), make_chain("Revoked"))
    path = f"/console/certificates/{stored.identifier}"
    dialog = await shared_admin.htmx_get(f"{path}/revoke")
    assert 'value="key_compromise"' in dialog.text and "remove_from_crl" not in dialog.text
    assert "recorded here, and its issuer is not told" in dialog.text  # an uploaded certificate
    response = await shared_admin.htmx_post(
        f"{path}/revoke", {"reason": "key_compromise"}, trigger="revoke-form", current=path
    )
    assert response.status_code == 200 and "Certificate revoked (key compromise)." in response.text
    revoked = await get_certificate(shared_world.services, shared_world.admin_call, stored.identifier)
    assert revoked.status is CertificateStatus.REVOKED
    assert revoked.revocation_reason is RevocationReason.KEY_COMPROMISE
    assert 'id="open-revoke"' not in response.text


@pytest.mark.parametrize(
    ("reason", "slot", "message"),
    [("remove_from_crl", "reason", "delta CRLs"), ("because", "reason", "is not one of")],
    ids=["remove-from-crl", "unknown"],
)
async def test_a_refused_reason_is_shown_next_to_the_reason_select(
    shared_admin: Browser, shared_world: World, reason: str, slot: str, message: str
) -> None:
    stored = await upload_leaf(shared_world, await new_repository(shared_world), make_chain("Reason"))
    response = await shared_admin.htmx_post(
        f"/console/certificates/{stored.identifier}/revoke", {"reason": reason}, trigger="revoke-form"
    )
    assert response.status_code == 400 and message in response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#revoke-form-{slot}-error"


async def test_revoking_twice_is_refused_next_to_the_reason(
    shared_admin: Browser, shared_world: World
) -> None:
    stored = await upload_leaf(shared_world, await new_repository(shared_world), make_chain("Twice"))
    path = f"/console/certificates/{stored.identifier}/revoke"
    assert (
        await shared_admin.htmx_post(path, {"reason": "superseded"}, trigger="revoke-form")
    ).status_code == 200
    again = await shared_admin.htmx_post(path, {"reason": "superseded"}, trigger="revoke-form")
    assert again.status_code == 409 and "already revoked" in again.text
    assert again.headers["HX-Retarget"].startswith("#revoke-form-reason-error")


async def test_deleting_confirms_then_returns_to_the_repository(
    shared_admin: Browser, shared_world: World
) -> None:
    rid = await new_repository(shared_world)
    stored = await upload_leaf(shared_world, rid, make_chain("Deleted"))
    path = f"/console/certificates/{stored.identifier}"
    dialog = await shared_admin.htmx_get(f"{path}/delete")
    assert "private key is destroyed" in dialog.text and "cannot be undone" in dialog.text
    response = await shared_admin.htmx_post(
        f"{path}/delete", {}, trigger="delete-certificate-form", current=path
    )
    assert response.status_code == 200 and "Certificate “deleted.example.com” deleted" in response.text
    assert response.headers["HX-Replace-Url"] == f"/console/repositories/{rid}"
    with pytest.raises(CertificateNotFound):
        await get_certificate(shared_world.services, shared_world.admin_call, stored.identifier)


async def test_an_auditor_reads_a_certificate_without_the_controls_that_change_it(
    shared_world: World,
) -> None:
    from certrepo.domain.enums import Role
    from certrepo.services.accounts import create_user

    from .conftest import console_client

    stored = await upload_leaf(
        shared_world, await new_repository(shared_world), make_chain("Audited"), exportable=True
    )
    name = unique("auditor")
    await create_user(
        shared_world.services,
        shared_world.admin_call,
        name=name,
        role=Role.AUDITOR,
        password="auditor-password",
    )
    async with console_client(shared_world) as client:
        auditor = Browser(client)
        await auditor.sign_in(name, "auditor-password")
        page = await client.get(f"/console/certificates/{stored.identifier}")
        refused = await client.post(
            f"/console/certificates/{stored.identifier}/revoke",
            data={"csrf_token": auditor.csrf, "reason": "superseded"},
        )
    assert page.status_code == 200 and "audited.example.com" in page.text
    for control in ('id="open-revoke"', 'id="open-delete"', "Export the private key", "Try key operations"):
        assert control not in page.text, control
    assert refused.status_code == 403


async def test_a_file_over_the_upload_limit_is_refused_next_to_its_field(
    shared_admin: Browser, shared_world: World
) -> None:
    rid = await new_repository(shared_world)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {"certificate": ""},
        trigger="upload-form",
        files={"certificate_file": ("huge.pem", b"A" * (65 * 1024))},
    )
    assert response.status_code == 413 and "larger than 64 KiB" in response.text
    assert response.headers["HX-Retarget"].startswith("#upload-form-certificate-error")


async def test_a_compliant_upload_without_its_key_is_refused_next_to_the_key(
    shared_admin: Browser, shared_world: World
) -> None:
    from cryptography.x509.oid import ObjectIdentifier

    signing = make_chain(
        "Signer", leaf_eku=[ObjectIdentifier("1.3.6.1.5.5.7.3.36")], leaf_key_usage="signing"
    )
    rid = await new_repository(shared_world, DataSource.COMPLIANT)
    panel = await shared_admin.htmx_get(f"/console/repositories/{rid}/upload")
    assert "never exportable" in panel.text and 'name="exportable"' not in panel.text
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/upload",
        {"certificate": pem(signing.leaf), "chain": pem(signing.intermediate) + pem(signing.root)},
        trigger="upload-form",
    )
    assert response.status_code == 400 and "NoPrivateKey" in response.text
    assert response.headers["HX-Retarget"].startswith("#upload-form-private_key-error")
