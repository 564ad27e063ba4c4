"""The tools of a repository page: verify a chain against an uploaded CA repository, and the
Sign/Verify/Encrypt/Decrypt try-out (algorithms that fit the key, results, refusals next to their field).
Also: every new form refuses a post without the session's CSRF token."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certrepo.domain.enums import DataSource
from certrepo.domain.paging import Page
from certrepo.services.audit import list_events
from certrepo.services.cas_read import list_cas
from certrepo.services.certificates import CertificateFilter, get_certificate, list_certificates
from tests.conftest import World
from tests.factories import Chain, build, make_chain, pem

from .conftest import Browser
from .pki import new_repository, upload_leaf

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain("Tools")


@pytest.fixture(scope="module")
def rsa_chain(chain: Chain) -> Chain:
    """An RSA leaf under the EC intermediate (for OAEP): the one RSA key of the module."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = build(
        "rsa.example.com", key, issuer=(chain.intermediate, chain.intermediate_key), sans=["rsa.example.com"]
    )
    return Chain(chain.root, chain.root_key, chain.intermediate, chain.intermediate_key, leaf, key)


async def _trust_store(world: World, chain: Chain) -> int:
    from certrepo.services.certificates import Upload, upload_certificate

    rid = await new_repository(world, DataSource.UPLOADED_CA)
    await upload_certificate(
        world.services,
        world.admin_call,
        rid,
        Upload(certificate=pem(chain.intermediate), chain=pem(chain.root)),
    )
    return rid


# --- verify-chain -----------------------------------------------------------------------------------------


async def test_a_chain_to_a_root_of_the_repository_is_valid_and_shown(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid = await _trust_store(shared_world, chain)
    page = await shared_admin.client.get(f"/console/repositories/{rid}")
    assert "Verify a certificate chain" in page.text and "Try key operations" not in page.text
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/verify-chain",
        {"certificate": pem(chain.leaf), "hostname": "tools.example.com", "usage": "server", "time": ""},
        trigger="verify-form",
    )
    assert response.status_code == 200, response.text
    assert "Valid</span>" in response.text and "tools.example.com" in response.text
    assert response.text.count("<li>") == 3 and "CN=Tools Root" in response.text


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"hostname": "other.example.com", "usage": "server"}, "other.example.com"),
        ({"usage": "any", "time": "2001-01-01T00:00"}, "2001-01-01"),
    ],
    ids=["other-host", "before-validity"],
)
async def test_a_chain_that_does_not_validate_is_a_result_with_reasons_not_an_error(
    shared_admin: Browser, shared_world: World, chain: Chain, form: dict[str, str], reason: str
) -> None:
    rid = await _trust_store(shared_world, chain)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/verify-chain",
        {"certificate": pem(chain.leaf), **form},
        trigger="verify-form",
    )
    assert response.status_code == 200 and "Not valid</span>" in response.text
    assert reason in response.text


@pytest.mark.parametrize(
    ("form", "slot"),
    [
        ({"certificate": "not a certificate"}, "certificate"),
        ({"certificate": ""}, "certificate"),
        ({"hostname": "not a host!"}, "hostname"),
        ({"usage": "email"}, "usage"),
        ({"time": "tomorrow"}, "time"),
    ],
    ids=["garbage", "missing", "bad-hostname", "bad-usage", "bad-time"],
)
async def test_a_verify_chain_refusal_is_shown_next_to_its_field(
    shared_admin: Browser, shared_world: World, chain: Chain, form: dict[str, str], slot: str
) -> None:
    rid = await _trust_store(shared_world, chain)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/verify-chain",
        {"certificate": pem(chain.leaf), **form},
        trigger="verify-form",
    )
    assert response.status_code == 400, response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#verify-form-{slot}-error"


async def test_a_plain_form_verify_answers_with_the_whole_page(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid = await _trust_store(shared_world, chain)
    response = await shared_admin.client.post(
        f"/console/repositories/{rid}/verify-chain",
        data={"csrf_token": shared_admin.csrf, "certificate": pem(chain.leaf)},
    )
    assert response.status_code == 200 and "<main" in response.text and "Valid</span>" in response.text
    assert 'id="verify-panel" open' in response.text


# --- the try-out -----------------------------------------------------------------------------------------


async def _uploaded(world: World, chain: Chain) -> tuple[int, str]:
    rid = await new_repository(world)
    return rid, (await upload_leaf(world, rid, chain)).identifier


async def test_the_try_out_offers_only_algorithms_that_fit_the_key(
    shared_admin: Browser, shared_world: World, chain: Chain, rsa_chain: Chain
) -> None:
    rid, ec_id = await _uploaded(shared_world, chain)
    rsa_id = (await upload_leaf(shared_world, rid, rsa_chain)).identifier
    page = await shared_admin.client.get(f"/console/repositories/{rid}?tryout={ec_id}")
    panel = page.text[page.text.index('id="tryout-panel"') :]
    assert 'value="SHA256withECDSA"' in panel and 'value="SHA256withRSA"' not in panel
    assert "Encrypt and decrypt" not in panel  # no encryption with an EC key
    swapped = await shared_admin.client.get(
        f"/console/repositories/{rid}/tryout-algorithms?identifier={rsa_id}", headers={"HX-Request": "true"}
    )
    assert 'value="SHA256withRSA/PSS"' in swapped.text and 'value="RSAES_OAEP_SHA_256"' in swapped.text
    assert 'value="SHA256withECDSA"' not in swapped.text


async def test_a_message_signed_in_the_try_out_verifies_and_a_changed_one_does_not(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    path = f"/console/repositories/{rid}/tryout"
    base = {
        "identifier": identifier,
        "algorithm": "SHA256withECDSA",
        "message_type": "RAW",
        "message": "pay 100",
    }
    signed = await shared_admin.htmx_post(path, {**base, "operation": "sign"}, trigger="tryout-form")
    assert signed.status_code == 200, signed.text
    signature = re.search(r'id="tryout-output"[^>]*>([^<]+)<', signed.text)
    assert signature and base64.b64decode(signature.group(1))
    good = await shared_admin.htmx_post(
        path, {**base, "operation": "verify", "signature": signature.group(1)}, trigger="tryout-form"
    )
    assert "Valid</span>" in good.text
    bad = await shared_admin.htmx_post(
        path,
        {**base, "message": "pay 900", "operation": "verify", "signature": signature.group(1)},
        trigger="tryout-form",
    )
    assert bad.status_code == 200 and "Not valid</span>" in bad.text
    events = await list_events(
        shared_world.services, shared_world.admin_call, page=Page(1, 10), action="key.sign"
    )
    assert any(e.certificate_id == identifier for e in events.items)  # audited like an API call


async def test_a_digest_is_signed_as_given(shared_admin: Browser, shared_world: World, chain: Chain) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    digest = base64.b64encode(hashlib.sha256(b"contract").digest()).decode()
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/tryout",
        {
            "identifier": identifier,
            "operation": "sign",
            "algorithm": "SHA256withECDSA",
            "message_type": "DIGEST",
            "message": digest,
        },
        trigger="tryout-form",
    )
    assert response.status_code == 200 and 'id="tryout-output"' in response.text


async def test_text_encrypted_in_the_try_out_decrypts_back(
    shared_admin: Browser, shared_world: World, rsa_chain: Chain
) -> None:
    rid, identifier = await _uploaded(shared_world, rsa_chain)
    path = f"/console/repositories/{rid}/tryout"
    base = {"identifier": identifier, "algorithm": "RSAES_OAEP_SHA_256", "message_type": "RAW"}
    encrypted = await shared_admin.htmx_post(
        path, {**base, "operation": "encrypt", "message": "approve #42"}, trigger="tryout-form"
    )
    ciphertext = re.search(r'id="tryout-output"[^>]*>([^<]+)<', encrypted.text)
    assert ciphertext, encrypted.text
    decrypted = await shared_admin.htmx_post(
        path, {**base, "operation": "decrypt", "message": ciphertext.group(1)}, trigger="tryout-form"
    )
    assert '<span class="mono" id="tryout-plaintext">approve #42</span>' in decrypted.text


@pytest.mark.parametrize(
    ("changes", "slot", "code"),
    [
        ({"algorithm": "SHA256withRSA"}, "algorithm", "AlgorithmMismatch"),
        ({"algorithm": "RSAES_OAEP_SHA_1"}, "algorithm", "InvalidParameter"),
        ({"algorithm": ""}, "algorithm", "MissingParameter"),
        ({"message": ""}, "message", "MissingParameter"),
        (
            {"message_type": "DIGEST", "message": base64.b64encode(b"short").decode()},
            "message",
            "InvalidParameter",
        ),
        ({"message_type": "BASE64", "message": "***"}, "message", "InvalidParameter"),
        ({"message_type": "BLIND"}, "message_type", "InvalidParameter"),
        ({"operation": "verify"}, "signature", "MissingParameter"),
        ({"identifier": "no-such-certificate"}, "identifier", "NotFound.Certificate"),
    ],
    ids=[
        "rsa-algorithm-on-ec",
        "encryption-for-signing",
        "no-algorithm",
        "no-message",
        "short-digest",
        "bad-base64",
        "bad-type",
        "verify-without-signature",
        "unknown-certificate",
    ],
)
async def test_a_try_out_refusal_is_shown_next_to_its_field(
    shared_admin: Browser, shared_world: World, chain: Chain, changes: dict[str, str], slot: str, code: str
) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    form = {
        "identifier": identifier,
        "operation": "sign",
        "algorithm": "SHA256withECDSA",
        "message_type": "RAW",
        "message": "hi",
    }
    form.update(changes)
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/tryout", form, trigger="tryout-form"
    )
    assert 400 <= response.status_code < 500, response.text
    assert code in response.text
    assert response.headers["HX-Retarget"].split(", ")[0] == f"#tryout-form-{slot}-error"


async def test_a_certificate_without_its_key_cannot_sign_and_the_selector_says_so(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    from certrepo.services.certificates import Upload, upload_certificate

    rid = await new_repository(shared_world)
    uploaded = await upload_certificate(
        shared_world.services,
        shared_world.admin_call,
        rid,
        Upload(certificate=pem(chain.leaf), chain=pem(chain.intermediate) + pem(chain.root)),
    )
    identifier = uploaded.certificates[0].identifier
    page = await shared_admin.client.get(f"/console/repositories/{rid}")
    assert "· no private key" in page.text
    response = await shared_admin.htmx_post(
        f"/console/repositories/{rid}/tryout",
        {
            "identifier": identifier,
            "operation": "sign",
            "algorithm": "SHA256withECDSA",
            "message_type": "RAW",
            "message": "x",
        },
        trigger="tryout-form",
    )
    assert response.status_code == 400 and "NoPrivateKey" in response.text
    assert response.headers["HX-Retarget"].startswith("#tryout-form-identifier-error")


async def test_the_certificate_page_has_its_own_try_out(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    page = await shared_admin.client.get(f"/console/certificates/{identifier}")
    assert 'id="tryout-panel" open' in page.text and 'name="return_to" value="certificate"' in page.text
    plain = await shared_admin.client.post(
        f"/console/repositories/{rid}/tryout",
        data={
            "csrf_token": shared_admin.csrf,
            "return_to": "certificate",
            "identifier": identifier,
            "operation": "sign",
            "algorithm": "SHA256withECDSA",
            "message_type": "RAW",
            "message": "hello",
        },
    )
    assert plain.status_code == 200 and "Fingerprints" in plain.text and 'id="tryout-output"' in plain.text


# --- CSRF on every new form -----------------------------------------------------------------------------


async def test_every_new_form_refuses_a_post_without_the_session_csrf_token(
    shared_admin: Browser, shared_world: World, chain: Chain
) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    trust = await _trust_store(shared_world, chain)
    cas_before = len(await list_cas(shared_world.services, shared_world.admin_call))
    posts = {
        f"/console/repositories/{rid}/upload": {"certificate": pem(chain.leaf)},
        f"/console/repositories/{rid}/issue": {"usage": "server", "common_name": "x"},
        f"/console/repositories/{trust}/verify-chain": {"certificate": pem(chain.leaf)},
        f"/console/repositories/{rid}/tryout": {
            "identifier": identifier,
            "algorithm": "SHA256withECDSA",
            "message": "m",
        },
        f"/console/certificates/{identifier}/revoke": {"reason": "superseded"},
        f"/console/certificates/{identifier}/export-key": {"format": "pkcs8"},
        f"/console/certificates/{identifier}/delete": {},
        "/console/cas": {"type": "root", "common_name": "sneaky", "key_algorithm": "ECC_256"},
        "/console/cas/import": {"certificate": pem(chain.root)},
    }
    for path, form in posts.items():
        for token in (None, "forged-token"):
            data = form if token is None else {**form, "csrf_token": token}
            response = await shared_admin.client.post(path, data=data)
            assert response.status_code == 403 and "CSRF" in response.text, (path, token)
    stored = await get_certificate(shared_world.services, shared_world.admin_call, identifier)
    assert stored.status.value == "issued"  # neither revoked nor deleted
    listed = await list_certificates(
        shared_world.services, shared_world.admin_call, rid, page=Page(1, 10), where=CertificateFilter()
    )
    assert listed.total == 1
    assert len(await list_cas(shared_world.services, shared_world.admin_call)) == cas_before


@pytest.mark.parametrize(
    "path",
    [
        "/console/repositories/{rid}/upload",
        "/console/certificates/{identifier}",
        "/console/certificates/{identifier}/revoke",
        "/console/certificates/{identifier}/delete",
        "/console/cas",
        "/console/cas/new",
        "/console/cas/import",
        "/console/expiring",
    ],
    ids=[
        "upload-panel",
        "certificate",
        "revoke-dialog",
        "delete-dialog",
        "cas",
        "create-ca",
        "import-ca",
        "expiring",
    ],
)
async def test_every_new_page_renders_as_a_whole_page_with_the_quota_at_the_top(
    shared_admin: Browser, shared_world: World, chain: Chain, path: str
) -> None:
    rid, identifier = await _uploaded(shared_world, chain)
    response = await shared_admin.client.get(path.format(rid=rid, identifier=identifier))
    assert response.status_code == 200, response.text
    assert 'class="quota"' in response.text and "API calls" in response.text and "<main" in response.text
    assert "style=" not in response.text and "<script>" not in response.text  # nothing inline (CSP)
