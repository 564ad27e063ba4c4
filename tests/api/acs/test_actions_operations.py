"""Sign, Verify, Encrypt and Decrypt with the official SDK (reference §4.12-4.15, SPEC §1.3): every
signature and ciphertext is also checked by cryptography outside the server."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from alibabacloud_cas20200407 import models
from alibabacloud_cas20200407.client import Client as CasClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.factories import Chain, build, ec_key, make_chain, rsa_key

from .conftest import Server, rpc_error
from .support import Warehouse, b64, body_of, create_warehouse, sha256_b64, upload

MESSAGE = "transfer 10 to bob"
WIRE = {"RAW": MESSAGE, "BASE64": b64(MESSAGE), "DIGEST": sha256_b64(MESSAGE)}


@dataclass(frozen=True)
class Keys:
    """One uploaded repository holding an EC and an RSA certificate with their keys, and a key-less one."""

    warehouse: Warehouse
    ec: str
    ec_chain: Chain
    rsa: str
    rsa_chain: Chain
    rsa_cert_id: int
    keyless: str
    keyless_chain: Chain


@pytest.fixture(scope="module")
def keys(acs_server: Server) -> Keys:
    client = acs_server.client()
    warehouse = create_warehouse(client, Name="key use")
    ec_chain = make_chain("Ops")
    key = rsa_key()
    rsa_leaf = build("rsa.ops.example.com", key, issuer=(ec_chain.intermediate, ec_chain.intermediate_key))
    rsa_chain = Chain(
        ec_chain.root, ec_chain.root_key, ec_chain.intermediate, ec_chain.intermediate_key, rsa_leaf, key
    )
    keyless_key = ec_key()
    keyless_leaf = build(
        "keyless.ops.example.com", keyless_key, issuer=(ec_chain.intermediate, ec_chain.intermediate_key)
    )
    keyless = Chain(
        ec_chain.root,
        ec_chain.root_key,
        ec_chain.intermediate,
        ec_chain.intermediate_key,
        keyless_leaf,
        keyless_key,
    )
    rsa_answer = upload(client, warehouse, rsa_chain, CustomIdentifier=f"ops-rsa-{warehouse.wh_id}")
    return Keys(
        warehouse,
        upload(client, warehouse, ec_chain)["Identifier"],
        ec_chain,
        rsa_answer["Identifier"],
        rsa_chain,
        rsa_answer["CertId"],
        upload(client, warehouse, keyless, with_key=False)["Identifier"],
        keyless,
    )


def sign(
    client: CasClient,
    identifier: str,
    algorithm: str,
    kind: str = "RAW",
    message: str | None = None,
    **extra: Any,
) -> str:
    query = {
        "CertIdentifier": identifier,
        "Message": WIRE[kind] if message is None else message,
        "MessageType": kind,
        "SigningAlgorithm": algorithm,
        **extra,
    }
    return str(body_of(client, "Sign", {k: v for k, v in query.items() if v is not None})["Signature"])


def verify(
    client: CasClient, identifier: str, algorithm: str, kind: str, message: str, signature: str
) -> bool:
    request = models.VerifyRequest(
        cert_identifier=identifier,
        message=message,
        message_type=kind,
        signature_value=signature,
        signing_algorithm=algorithm,
    )
    return bool(client.verify(request).body.signature_valid)


# --- Sign and Verify --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RAW", "BASE64", "DIGEST"])
def test_an_ecdsa_signature_verifies_here_and_with_cryptography(
    admin_client: CasClient, keys: Keys, kind: str
) -> None:
    signature = sign(admin_client, keys.ec, "SHA256withECDSA", kind)
    public_key = keys.ec_chain.leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(base64.b64decode(signature), MESSAGE.encode(), ec.ECDSA(hashes.SHA256()))
    verify_message = b64(MESSAGE) if kind == "RAW" else WIRE[kind]
    assert verify(admin_client, keys.ec, "SHA256withECDSA", kind, verify_message, signature) is True


RSA_PADDINGS = {
    "SHA256withRSA": padding.PKCS1v15(),
    "SHA256withRSA/PSS": padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
}


@pytest.mark.parametrize("kind", ["RAW", "BASE64", "DIGEST"])
@pytest.mark.parametrize("algorithm", RSA_PADDINGS, ids=["pkcs1", "pss"])
def test_an_rsa_signature_verifies_here_and_with_cryptography(
    admin_client: CasClient, keys: Keys, algorithm: str, kind: str
) -> None:
    signature = sign(admin_client, keys.rsa, algorithm, kind, WarehouseId=keys.warehouse.wh_id)
    public_key = keys.rsa_chain.leaf.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(base64.b64decode(signature), MESSAGE.encode(), RSA_PADDINGS[algorithm], hashes.SHA256())
    verify_message = b64(MESSAGE) if kind == "RAW" else WIRE[kind]
    assert verify(admin_client, keys.rsa, algorithm, kind, verify_message, signature) is True


def test_verify_of_raw_text_that_is_not_base64_takes_the_text_itself(
    admin_client: CasClient, keys: Keys
) -> None:
    text = "not base64: spaces, commas!"
    signature = sign(admin_client, keys.ec, "SHA256withECDSA", message=text)
    assert verify(admin_client, keys.ec, "SHA256withECDSA", "RAW", text, signature) is True


def test_verify_of_a_signature_of_another_message_is_false(admin_client: CasClient, keys: Keys) -> None:
    signature = sign(admin_client, keys.ec, "SHA256withECDSA")
    assert verify(admin_client, keys.ec, "SHA256withECDSA", "RAW", b64("another message"), signature) is False


def test_a_certificate_without_its_key_verifies_but_cannot_sign(admin_client: CasClient, keys: Keys) -> None:
    leaf_key = keys.keyless_chain.leaf_key  # made here, never uploaded
    assert isinstance(leaf_key, ec.EllipticCurvePrivateKey)
    signature = b64(leaf_key.sign(MESSAGE.encode(), ec.ECDSA(hashes.SHA256())))
    assert verify(admin_client, keys.keyless, "SHA256withECDSA", "RAW", b64(MESSAGE), signature) is True
    error = rpc_error(lambda: sign(admin_client, keys.keyless, "SHA256withECDSA"))
    assert (error.code, error.status_code) == ("NoPrivateKey", 400)


def test_sign_by_custom_identifier(admin_client: CasClient, keys: Keys) -> None:
    query = {
        "CustomIdentifier": f"ops-rsa-{keys.warehouse.wh_id}",
        "Message": MESSAGE,
        "MessageType": "RAW",
        "SigningAlgorithm": "SHA256withRSA",
    }
    signature = body_of(admin_client, "Sign", query)["Signature"]
    assert verify(admin_client, keys.rsa, "SHA256withRSA", "RAW", b64(MESSAGE), signature) is True


def test_sign_by_the_cert_id_identifier_of_the_ssl_api(admin_client: CasClient, keys: Keys) -> None:
    signature = sign(admin_client, f"{keys.rsa_cert_id}-cn-hangzhou", "SHA256withRSA")
    assert verify(admin_client, keys.rsa, "SHA256withRSA", "RAW", b64(MESSAGE), signature) is True


def test_message_type_defaults_to_raw(admin_client: CasClient, keys: Keys) -> None:
    query = {"CertIdentifier": keys.ec, "Message": MESSAGE, "SigningAlgorithm": "SHA256withECDSA"}
    signature = body_of(admin_client, "Sign", query)["Signature"]
    assert verify(admin_client, keys.ec, "SHA256withECDSA", "RAW", b64(MESSAGE), signature) is True


SIGN_FAILURES = {
    "no-message": ({"Message": None}, "MissingParameter", 400, "Message"),
    "no-algorithm": ({"SigningAlgorithm": None}, "MissingParameter", 400, "SigningAlgorithm"),
    "no-certificate": ({"CertIdentifier": None}, "MissingParameter", 400, "CertIdentifier"),
    "both-handles": ({"CustomIdentifier": "x"}, "InvalidParameter", 400, "not both"),
    "pss-on-ec": ({"SigningAlgorithm": "SHA256withRSA/PSS"}, "AlgorithmMismatch", 400, ""),
    "unknown-algorithm": ({"SigningAlgorithm": "MD5withRSA"}, "InvalidParameter", 400, "SigningAlgorithm"),
    "unknown-type": ({"MessageType": "HEX"}, "InvalidParameter", 400, "MessageType"),
    "blind": ({"MessageType": "BLIND"}, "UnsupportedOperation", 400, "BLIND"),
    "short-digest": ({"MessageType": "DIGEST", "Message": b64(b"short")}, "InvalidParameter", 400, "digest"),
    "raw-4-kib": ({"Message": "m" * 4096}, "MessageTooLarge", 413, "DIGEST"),
    "unknown-certificate": ({"CertIdentifier": "0" * 32}, "NotFound.Certificate", 404, ""),
    "unknown-cert-id": (
        {"CertIdentifier": "987654321-cn-hangzhou"},
        "NotFound.Certificate",
        404,
        "987654321",
    ),
    "other-warehouse": ({"WarehouseId": 987654321}, "NotFound.Certificate", 404, "987654321"),
}


@pytest.mark.parametrize(
    ("change", "code", "status", "says"), SIGN_FAILURES.values(), ids=SIGN_FAILURES.keys()
)
def test_sign_refuses_bad_requests(
    admin_client: CasClient, keys: Keys, change: dict[str, Any], code: str, status: int, says: str
) -> None:
    query: dict[str, Any] = {
        "CertIdentifier": keys.ec,
        "Message": MESSAGE,
        "MessageType": "RAW",
        "SigningAlgorithm": "SHA256withECDSA",
        **change,
    }
    error = rpc_error(
        lambda: body_of(admin_client, "Sign", {k: v for k, v in query.items() if v is not None})
    )
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]


VERIFY_FAILURES = {
    "no-signature": ({"SignatureValue": None}, "MissingParameter", "SignatureValue"),
    "bad-signature-encoding": ({"SignatureValue": "***"}, "InvalidParameter", "SignatureValue"),
    "no-message": ({"Message": None}, "MissingParameter", "Message"),
    "pss-on-ec": ({"SigningAlgorithm": "SHA256withRSA/PSS"}, "AlgorithmMismatch", ""),
}


@pytest.mark.parametrize(("change", "code", "says"), VERIFY_FAILURES.values(), ids=VERIFY_FAILURES.keys())
def test_verify_refuses_bad_requests(
    admin_client: CasClient, keys: Keys, change: dict[str, Any], code: str, says: str
) -> None:
    query: dict[str, Any] = {
        "CertIdentifier": keys.ec,
        "Message": b64(MESSAGE),
        "MessageType": "RAW",
        "SignatureValue": b64(b"\x30\x00"),
        "SigningAlgorithm": "SHA256withECDSA",
        **change,
    }
    error = rpc_error(
        lambda: body_of(admin_client, "Verify", {k: v for k, v in query.items() if v is not None})
    )
    assert (error.code, error.status_code) == (code, 400)
    assert says in error.data["Message"]


# --- Encrypt and Decrypt ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_encrypt_then_decrypt_gives_the_text_back(
    admin_client: CasClient, keys: Keys, algorithm: str
) -> None:
    encrypted = admin_client.encrypt(
        models.EncryptRequest(
            cert_identifier=keys.rsa, algorithm=algorithm, plaintext="approve", message_type="RAW"
        )
    ).body
    assert encrypted.cert_identifier == keys.rsa
    decrypted = admin_client.decrypt(
        models.DecryptRequest(
            cert_identifier=keys.rsa,
            algorithm=algorithm,
            ciphertext_blob=encrypted.ciphertext_blob,
            message_type="RAW",
        )
    ).body
    assert (decrypted.cert_identifier, decrypted.plaintext) == (keys.rsa, "approve")


def test_decrypt_answers_base64_by_default(admin_client: CasClient, keys: Keys) -> None:
    data = bytes(range(190))  # the most OAEP-SHA256 takes with a 2048-bit key
    encrypted = body_of(
        admin_client,
        "Encrypt",
        {
            "CertIdentifier": keys.rsa,
            "Algorithm": "RSAES_OAEP_SHA_256",
            "Plaintext": b64(data),
            "MessageType": "Base64",
        },
    )
    decrypted = body_of(
        admin_client,
        "Decrypt",
        {
            "CertIdentifier": keys.rsa,
            "Algorithm": "RSAES_OAEP_SHA_256",
            "CiphertextBlob": encrypted["CiphertextBlob"],
        },
    )
    assert base64.b64decode(decrypted["Plaintext"]) == data


def test_a_ciphertext_made_outside_decrypts(admin_client: CasClient, keys: Keys) -> None:
    public_key = keys.rsa_chain.leaf.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    blob = b64(public_key.encrypt(b"made outside", oaep))
    decrypted = body_of(
        admin_client,
        "Decrypt",
        {
            "CustomIdentifier": f"ops-rsa-{keys.warehouse.wh_id}",
            "Algorithm": "RSAES_OAEP_SHA_256",
            "CiphertextBlob": blob,
            "MessageType": "RAW",
        },
    )
    assert decrypted["Plaintext"] == "made outside"


ENCRYPT_FAILURES = {
    "no-plaintext": ({"Plaintext": None}, "MissingParameter", 400, "Plaintext"),
    "no-algorithm": ({"Algorithm": None}, "MissingParameter", 400, "Algorithm"),
    "ec-key": ({"CertIdentifier": "ec"}, "AlgorithmMismatch", 400, ""),
    "too-long": ({"Plaintext": "p" * 191}, "MessageTooLarge", 413, "at most 190 bytes"),
    "digest-type": ({"MessageType": "DIGEST"}, "InvalidParameter", 400, "MessageType"),
    "unknown-algorithm": ({"Algorithm": "RSAES_PKCS1_V1_5"}, "InvalidParameter", 400, "Algorithm"),
}


@pytest.mark.parametrize(
    ("change", "code", "status", "says"), ENCRYPT_FAILURES.values(), ids=ENCRYPT_FAILURES.keys()
)
def test_encrypt_refuses_bad_requests(
    admin_client: CasClient, keys: Keys, change: dict[str, Any], code: str, status: int, says: str
) -> None:
    query: dict[str, Any] = {
        "CertIdentifier": keys.rsa,
        "Algorithm": "RSAES_OAEP_SHA_256",
        "Plaintext": "p",
        **change,
    }
    if query["CertIdentifier"] == "ec":
        query["CertIdentifier"] = keys.ec
    error = rpc_error(
        lambda: body_of(admin_client, "Encrypt", {k: v for k, v in query.items() if v is not None})
    )
    assert (error.code, error.status_code) == (code, status)
    assert says in error.data["Message"]


DECRYPT_FAILURES = {
    "no-ciphertext": ({"CiphertextBlob": None}, "MissingParameter", "CiphertextBlob"),
    "not-base64": ({"CiphertextBlob": "***"}, "InvalidParameter", "CiphertextBlob"),
    "keyless": ({"CertIdentifier": "keyless"}, "NoPrivateKey", ""),
}


@pytest.mark.parametrize(("change", "code", "says"), DECRYPT_FAILURES.values(), ids=DECRYPT_FAILURES.keys())
def test_decrypt_refuses_bad_requests(
    admin_client: CasClient, keys: Keys, change: dict[str, Any], code: str, says: str
) -> None:
    query: dict[str, Any] = {
        "CertIdentifier": keys.rsa,
        "Algorithm": "RSAES_OAEP_SHA_256",
        "CiphertextBlob": b64(b"x" * 256),
        **change,
    }
    if query["CertIdentifier"] == "keyless":
        query["CertIdentifier"] = keys.keyless
    error = rpc_error(
        lambda: body_of(admin_client, "Decrypt", {k: v for k, v in query.items() if v is not None})
    )
    assert (error.code, error.status_code) == (code, 400)
    assert says in error.data["Message"]


def test_a_signer_without_a_grant_cannot_use_the_key(acs_server: Server, keys: Keys) -> None:
    signer = acs_server.client(acs_server.identity_with_role(acs_server.admin, "signer"))
    error = rpc_error(lambda: sign(signer, keys.ec, "SHA256withECDSA"))
    assert (error.code, error.status_code) == ("NotFound.Certificate", 404)
