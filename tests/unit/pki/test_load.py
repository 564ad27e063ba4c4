"""Strict loading of uploads: PEM framing, DER, base64, PKCS#12, private keys, sizes, key matching."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certrepo.domain.errors import CertrepoError, InvalidInput, KeyMismatch, MessageTooLarge
from certrepo.pki.load import (
    check_key_matches,
    load_certificates,
    load_private_key,
    load_private_key_fast,
    load_upload,
)

if TYPE_CHECKING:
    from pki.conftest import Issued, Pki

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
NO_ENCRYPTION = serialization.NoEncryption()


def key_pem(issued: Issued, fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else NO_ENCRYPTION
    return bytes(issued.key.private_bytes(PEM, fmt, encryption))


def same_key(a: PrivateKeyTypes, b: PrivateKeyTypes) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_key().public_bytes(DER, spki) == b.public_key().public_bytes(DER, spki)


# --- certificates ---------------------------------------------------------------------------------------


def test_pem_with_several_certificates_loads_them_in_the_given_order(ec_chain: tuple[Issued, ...]) -> None:
    root, intermediate, leaf = ec_chain
    upload = load_upload(leaf.pem + root.pem + intermediate.pem)
    assert upload.certificates == (leaf.cert, root.cert, intermediate.cert)
    assert upload.private_key is None


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda der: der, id="raw-der-bytes"),
        pytest.param(lambda der: base64.b64encode(der).decode(), id="base64-str"),
        pytest.param(lambda der: base64.encodebytes(der), id="base64-bytes-with-newlines"),
    ],
)
def test_der_and_base64_der_certificates_load(ec_chain: tuple[Issued, ...], encode: object) -> None:
    leaf = ec_chain[2]
    assert load_upload(encode(leaf.der)).certificates == (leaf.cert,)  # type: ignore[operator]


def test_pem_as_str_loads(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    assert load_certificates(leaf.pem.decode()) == [leaf.cert]


def test_whitespace_and_byte_order_mark_around_pem_blocks_are_accepted(ec_chain: tuple[Issued, ...]) -> None:
    root, _, leaf = ec_chain
    text = "\ufeff\n  " + leaf.pem.decode().replace("\n", "\r\n") + "\n\n\t" + root.pem.decode() + "  \n"
    assert load_certificates(text) == [leaf.cert, root.cert]


@pytest.mark.parametrize(
    ("layout", "where"),
    [
        pytest.param("junk\n{a}{b}", "before PEM block 1", id="before"),
        pytest.param("{a}junk\n{b}", "between PEM blocks 1 and 2", id="between"),
        pytest.param("{a}{b}junk", "after PEM block 2", id="after"),
    ],
)
def test_text_around_pem_blocks_is_refused_naming_the_place(
    ec_chain: tuple[Issued, ...], layout: str, where: str
) -> None:
    root, _, leaf = ec_chain
    text = layout.format(a=leaf.pem.decode(), b=root.pem.decode())
    with pytest.raises(InvalidInput, match=where):
        load_upload(text)


def test_undecodable_block_is_refused_naming_its_position(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    broken = b"-----BEGIN CERTIFICATE-----\nMIIBbroken+data==\n-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidInput, match="PEM block 2 is not a valid certificate"):
        load_upload(leaf.pem + broken)


def test_block_whose_end_label_differs_is_refused(ec_chain: tuple[Issued, ...]) -> None:
    text = ec_chain[2].pem.decode().replace("END CERTIFICATE", "END PRIVATE KEY")
    with pytest.raises(InvalidInput, match="PEM block 1 begins as CERTIFICATE but ends as PRIVATE KEY"):
        load_certificates(text)


def test_block_without_end_line_is_refused(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    truncated = leaf.pem.decode().split("-----END")[0]
    with pytest.raises(InvalidInput, match="PEM block 2 has no matching END line"):
        load_certificates(leaf.pem.decode() + truncated)


def test_other_pem_types_in_the_certificate_field_are_refused(pki: Pki, ec_chain: tuple[Issued, ...]) -> None:
    public = ec_chain[2].key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidInput, match="PEM block 2 is a PUBLIC KEY, expected a CERTIFICATE"):
        load_upload(ec_chain[2].pem + public)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("", id="empty"),
        pytest.param("not base64 at all!", id="text"),
        pytest.param(b"\x30\x03\x02\x01\x01", id="der-garbage"),
        pytest.param(b"\xff\xfe\x00binary", id="binary-garbage"),
    ],
)
def test_input_that_is_no_certificate_is_refused(data: str | bytes) -> None:
    with pytest.raises(InvalidInput, match="certificate"):
        load_upload(data)


@pytest.mark.parametrize("serial", [0, -5])
def test_certificate_whose_serial_number_is_not_positive_is_refused(pki: Pki, serial: int) -> None:
    issued = pki.issue("zero", key=pki.rsa_keys[0])
    der = pki.resign_der(issued, pki.rsa_keys[0], serial=serial)
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidInput, match="PEM block 1: the certificate's serial number is not positive"):
        load_upload(pem)


def test_certificate_whose_country_code_is_not_two_letters_is_refused(pki: Pki) -> None:
    issued = pki.issue("abroad", key=pki.rsa_keys[0])
    der = pki.resign_der(issued, pki.rsa_keys[0], country="USA")
    with pytest.raises(
        InvalidInput, match="certificate: the subject's country code 'USA' is not two letters"
    ):
        load_upload(der)


def test_chain_field_certificates_follow_the_certificate_field(ec_chain: tuple[Issued, ...]) -> None:
    root, intermediate, leaf = ec_chain
    upload = load_upload(leaf.pem, chain=intermediate.pem + root.pem)
    assert upload.certificates == (leaf.cert, intermediate.cert, root.cert)


@pytest.mark.parametrize("blank", ["", "  \n", b""])
def test_blank_chain_and_key_fields_count_as_absent(ec_chain: tuple[Issued, ...], blank: str | bytes) -> None:
    upload = load_upload(ec_chain[2].pem, chain=blank, private_key=blank)
    assert upload.certificates == (ec_chain[2].cert,) and upload.private_key is None


def test_private_key_in_the_chain_field_is_refused(ec_chain: tuple[Issued, ...]) -> None:
    _, intermediate, leaf = ec_chain
    key = key_pem(leaf, serialization.PrivateFormat.PKCS8)
    with pytest.raises(InvalidInput, match="chain: PEM block 2 is a PRIVATE KEY, expected a CERTIFICATE"):
        load_upload(leaf.pem, chain=intermediate.pem + key)


def test_upload_over_the_size_limit_is_refused_naming_the_limit(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    with pytest.raises(MessageTooLarge, match="limit of 1000 bytes"):
        load_upload(leaf.pem, chain=leaf.pem * 3, max_bytes=1000)


def test_certificate_with_an_unsupported_curve_is_refused_naming_it(pki: Pki) -> None:
    odd = pki.issue("Koblitz", key=pki.ec_key(ec.SECP256K1()))
    with pytest.raises(InvalidInput, match=r"PEM block 1 \(CN=Koblitz\).*secp256k1"):
        load_upload(odd.pem)


def test_certificate_with_an_ed448_key_is_refused_naming_the_algorithm(pki: Pki) -> None:
    signer = pki.issue("Signer", ca=True)
    subject_key = ed448.Ed448PrivateKey.generate()
    odd = pki.issue("Edwards448", signer, key=subject_key)
    with pytest.raises(InvalidInput, match=r"CN=Edwards448.*Ed448"):
        load_upload(odd.pem)


# --- private keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        pytest.param("rsa", serialization.PrivateFormat.TraditionalOpenSSL, id="pkcs1-rsa"),
        pytest.param("ec", serialization.PrivateFormat.TraditionalOpenSSL, id="sec1-ec"),
        pytest.param("rsa", serialization.PrivateFormat.PKCS8, id="pkcs8-rsa"),
        pytest.param("ec", serialization.PrivateFormat.PKCS8, id="pkcs8-ec"),
        pytest.param("ed25519", serialization.PrivateFormat.PKCS8, id="pkcs8-ed25519"),
    ],
)
def test_unencrypted_pem_keys_load(pki: Pki, kind: str, fmt: serialization.PrivateFormat) -> None:
    leaf = pki.chain(kind)[2] if kind != "rsa" else pki.issue("rsa", key=pki.rsa_keys[0])
    key = load_private_key(key_pem(leaf, fmt))
    assert same_key(key, leaf.key)


def test_encrypted_pkcs8_key_loads_with_its_password(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    key = load_private_key(key_pem(leaf, serialization.PrivateFormat.PKCS8, b"s3cret"), b"s3cret")
    assert same_key(key, leaf.key)


def test_legacy_openssl_encrypted_key_loads_with_its_password(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    key = load_private_key(key_pem(leaf, serialization.PrivateFormat.TraditionalOpenSSL, b"pw"), b"pw")
    assert same_key(key, leaf.key)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param(None, "encrypted: give its password", id="missing"),
        pytest.param(b"wrong", "wrong password", id="wrong"),
    ],
)
def test_encrypted_key_without_the_right_password_is_refused(
    ec_chain: tuple[Issued, ...], password: bytes | None, message: str
) -> None:
    encrypted = key_pem(ec_chain[2], serialization.PrivateFormat.PKCS8, b"s3cret")
    with pytest.raises(InvalidInput, match=message):
        load_upload(ec_chain[2].pem, private_key=encrypted, password=password)


def test_password_is_ignored_for_an_unencrypted_key(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    key = load_private_key(key_pem(leaf, serialization.PrivateFormat.PKCS8), b"unused")
    assert same_key(key, leaf.key)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda der: der, id="raw-der"),
        pytest.param(lambda der: base64.b64encode(der).decode(), id="base64-der"),
    ],
)
def test_der_keys_load(ec_chain: tuple[Issued, ...], encode: object) -> None:
    leaf = ec_chain[2]
    der = leaf.key.private_bytes(DER, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
    assert same_key(load_private_key(encode(der)), leaf.key)  # type: ignore[operator]


def test_key_block_in_the_certificate_field_becomes_the_private_key(ec_chain: tuple[Issued, ...]) -> None:
    leaf = ec_chain[2]
    upload = load_upload(leaf.pem + key_pem(leaf, serialization.PrivateFormat.PKCS8))
    assert upload.certificates == (leaf.cert,)
    assert upload.private_key is not None and same_key(upload.private_key, leaf.key)


def test_key_block_in_the_certificate_field_is_refused_when_a_key_is_also_given(
    ec_chain: tuple[Issued, ...],
) -> None:
    leaf = ec_chain[2]
    key = key_pem(leaf, serialization.PrivateFormat.PKCS8)
    with pytest.raises(InvalidInput, match="already holds a private key"):
        load_upload(leaf.pem + key, private_key=key)


def test_private_key_field_holding_a_certificate_is_refused(ec_chain: tuple[Issued, ...]) -> None:
    with pytest.raises(InvalidInput, match="PEM block 1 is a CERTIFICATE, expected a private key"):
        load_private_key(ec_chain[2].pem)


def test_malformed_key_is_refused() -> None:
    broken = b"-----BEGIN PRIVATE KEY-----\nMIIBroken==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(InvalidInput, match="not a valid private key"):
        load_private_key(broken)


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1", id="secp256k1"),
        pytest.param(ed448.Ed448PrivateKey.generate, "Ed448", id="ed448"),
        pytest.param(lambda: dsa.generate_private_key(1024), "DSA", id="dsa"),
    ],
)
def test_keys_of_unsupported_algorithms_are_refused_naming_them(make_key: object, algorithm: str) -> None:
    key = make_key()  # type: ignore[operator]
    pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
    with pytest.raises(InvalidInput, match=algorithm):
        load_private_key(pem)


# --- PKCS#12 ----------------------------------------------------------------------------------------------


def pkcs12_bytes(chain: tuple[Issued, ...], password: bytes | None) -> bytes:
    root, intermediate, leaf = chain
    encryption = serialization.BestAvailableEncryption(password) if password else NO_ENCRYPTION
    return pkcs12.serialize_key_and_certificates(
        b"leaf",
        leaf.key,
        leaf.cert,
        [intermediate.cert, root.cert],
        encryption,
    )


@pytest.mark.parametrize(
    "encode",
    [pytest.param(lambda b: b, id="raw"), pytest.param(lambda b: base64.b64encode(b).decode(), id="base64")],
)
def test_pkcs12_with_the_right_password_yields_key_and_chain(
    ec_chain: tuple[Issued, ...], encode: object
) -> None:
    root, intermediate, leaf = ec_chain
    upload = load_upload(encode(pkcs12_bytes(ec_chain, b"pw")), password=b"pw")  # type: ignore[operator]
    assert upload.certificates == (leaf.cert, intermediate.cert, root.cert)
    assert upload.private_key is not None and same_key(upload.private_key, leaf.key)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param(None, "password-protected", id="missing"),
        pytest.param(b"wrong", "wrong password for the PKCS#12", id="wrong"),
    ],
)
def test_pkcs12_without_the_right_password_is_refused(
    ec_chain: tuple[Issued, ...], password: bytes | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_upload(pkcs12_bytes(ec_chain, b"pw"), password=password)


def test_unencrypted_pkcs12_loads_even_when_a_password_is_given(ec_chain: tuple[Issued, ...]) -> None:
    upload = load_upload(pkcs12_bytes(ec_chain, None), password=b"for-another-key")
    assert upload.certificates[0] == ec_chain[2].cert


def test_pkcs12_key_and_a_separate_key_together_are_refused(ec_chain: tuple[Issued, ...]) -> None:
    key = key_pem(ec_chain[2], serialization.PrivateFormat.PKCS8)
    with pytest.raises(InvalidInput, match="already holds a private key"):
        load_upload(pkcs12_bytes(ec_chain, b"pw"), password=b"pw", private_key=key)


# --- key matching ---------------------------------------------------------------------------------------


def test_matching_key_passes(rsa_chain: tuple[Issued, ...]) -> None:
    check_key_matches(rsa_chain[2].cert, rsa_chain[2].key)


def test_key_of_another_certificate_is_a_mismatch_naming_the_certificate(
    rsa_chain: tuple[Issued, ...],
) -> None:
    with pytest.raises(KeyMismatch, match="private key does not match the certificate CN=leaf"):
        check_key_matches(rsa_chain[2].cert, rsa_chain[0].key)


def test_key_of_another_algorithm_is_a_mismatch(rsa_chain: tuple[Issued, ...], pki: Pki) -> None:
    with pytest.raises(KeyMismatch, match="CN=leaf"):
        check_key_matches(rsa_chain[2].cert, pki.ec_key())


def test_fast_loader_returns_a_key_that_signs_like_the_original(rsa_chain: tuple[Issued, ...]) -> None:
    original = rsa_chain[2].key
    assert isinstance(original, rsa.RSAPrivateKey)
    der = original.private_bytes(DER, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION)
    fast = load_private_key_fast(der)
    assert isinstance(fast, rsa.RSAPrivateKey)
    signature = fast.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    original.public_key().verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


# --- fuzzing --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=3000), st.text(max_size=3000)))
def test_arbitrary_input_raises_only_certrepo_errors(data: bytes | str) -> None:
    try:
        load_upload(data, private_key=data, password=b"pw")
    except CertrepoError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)), max_size=3)
)
@pytest.mark.parametrize("form", ["der", "pkcs12"])
def test_mutated_der_and_pkcs12_raise_only_certrepo_errors(
    ec_chain: tuple[Issued, ...], form: str, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(ec_chain[2].der if form == "der" else pkcs12_bytes(ec_chain, b"pw"))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    try:
        load_upload(bytes(data), password=b"pw")
    except CertrepoError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000),
            st.sampled_from(["replace", "insert", "delete"]),
            st.characters(codec="ascii"),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_pem_raises_only_certrepo_errors(
    ec_chain: tuple[Issued, ...], edits: list[tuple[int, str, str]]
) -> None:
    leaf = ec_chain[2]
    text = leaf.pem.decode() + key_pem(leaf, serialization.PrivateFormat.PKCS8).decode()
    for position, action, char in edits:
        at = position % len(text)
        if action == "replace":
            text = text[:at] + char + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    try:
        load_upload(text)
    except CertrepoError:
        pass
