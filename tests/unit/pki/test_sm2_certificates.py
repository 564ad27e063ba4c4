"""SM2 certificates as uploads meet them: facts, keys, chain ordering and RFC 5280 validation of SM2 chains
(SM3withSM2 signatures checked with the default distinguishing ID through pyhanko-certvalidator).

Chains are built with pki/sm2.py's ``sign_certificate`` (any extension set, so each broken variant is one
argument), signatures with another ID or tampered bytes are made here with asn1crypto and the gmssl-pyx
primitive, and one chain comes from the OpenSSL 3 command line, the way its manual makes SM2 certificates.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.conftest import skip_or_fail

from certrepo.crypto.sm2 import SM2PrivateKey, generate_sm2_private_key, is_sm2_available, sm2_sign
from certrepo.domain.enums import KeyAlgorithm
from certrepo.domain.errors import (
    CertificateExpired,
    ChainInvalid,
    InvalidInput,
    KeyMismatch,
    Unsupported,
)
from certrepo.pki.chain import order_chain, validate_ca_upload, validate_upload_chain
from certrepo.pki.facts import certificate_facts, is_issued_by, is_self_signed
from certrepo.pki.load import check_key_matches, load_upload
from certrepo.pki.sm2 import SIGNATURE_VALIDATOR, sign_certificate
from certrepo.pki.verify import verify_chain

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
OPENSSL = "/usr/bin/openssl"
DEFAULT_ID = b"1234567812345678"


@pytest.fixture(autouse=True, scope="module")
def _needs_gmssl() -> None:
    if not is_sm2_available():
        skip_or_fail("SM2 certificates need the optional gmssl-pyx package, which is not installed")


# --- a small SM2 PKI ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sm2Issued:
    cert: x509.Certificate
    key: SM2PrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    cn: str,
    issuer: Sm2Issued | None = None,
    *,
    ca: bool = False,
    path_length: int | None = None,
    key_usage: x509.KeyUsage | None = None,
    not_before: dt.datetime = NOW - 30 * DAY,
    not_after: dt.datetime = NOW + 365 * DAY,
    dns: Sequence[str] = (),
) -> Sm2Issued:
    """An SM2 certificate for ``cn`` signed by ``issuer`` (self-signed when None), SM3withSM2, default ID."""
    key = generate_sm2_private_key()
    signer = issuer.key if issuer else key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    values: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=ca, path_length=path_length), True),
        (key_usage or _key_usage(ca=ca), True),
        (x509.SubjectKeyIdentifier(hashlib.sha1(b"\x04" + key.public_key().point).digest()), False),
        (
            x509.AuthorityKeyIdentifier(
                hashlib.sha1(b"\x04" + signer.public_key().point).digest(), None, None
            ),
            False,
        ),
    ]
    if dns:
        values.append((x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), False))
        values.append((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False))
    cert = sign_certificate(
        issuer=issuer.cert.subject if issuer else name,
        subject=name,
        public_key=key.public_key(),
        serial=int.from_bytes(os.urandom(8), "big") | 1,
        not_before=not_before,
        not_after=not_after,
        extensions=[x509.Extension(value.oid, critical, value) for value, critical in values],
        signing_key=signer,
    )
    return Sm2Issued(cert, key)


def resigned(item: Sm2Issued, signer: SM2PrivateKey, *, distinguishing_id: bytes) -> Sm2Issued:
    """The same TBSCertificate, signed again with another distinguishing ID (asn1crypto + gmssl-pyx)."""
    parsed = asn1_x509.Certificate.load(item.cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    signature = sm2_sign(signer, tbs.dump(), distinguishing_id)
    again = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": signature,
        }
    )
    return Sm2Issued(x509.load_der_x509_certificate(again.dump()), item.key)


def tampered(item: Sm2Issued) -> Sm2Issued:
    """The certificate with one bit of its TBSCertificate (in the subject's CN) flipped."""
    der = bytearray(item.cert.public_bytes(serialization.Encoding.DER))
    position = der.index(b"leaf")
    der[position] ^= 0x01
    return Sm2Issued(x509.load_der_x509_certificate(bytes(der)), item.key)


@pytest.fixture(scope="module")
def chain() -> tuple[Sm2Issued, Sm2Issued, Sm2Issued]:
    root = issue("SM2 Root", ca=True)
    intermediate = issue("SM2 Issuing", root, ca=True, path_length=0)
    return root, intermediate, issue("leaf.example.test", intermediate, dns=["leaf.example.test"])


def _key_pem(key: SM2PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return raw.decode()


# --- facts ----------------------------------------------------------------------------------------------


def test_facts_of_an_sm2_certificate_name_its_key_and_signature_algorithm(
    chain: tuple[Sm2Issued, ...],
) -> None:
    leaf = chain[2]
    der = leaf.cert.public_bytes(serialization.Encoding.DER)

    facts = certificate_facts(leaf.cert)

    assert (facts.key_algorithm, facts.key_size, facts.signature_algorithm) == (
        KeyAlgorithm.SM2_256,
        256,
        "SM3withSM2",
    )
    assert facts.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert facts.subject_key_identifier == hashlib.sha1(b"\x04" + leaf.key.public_key().point).hexdigest()
    assert (facts.common_name, facts.sans, facts.is_ca) == (
        "leaf.example.test",
        (("dns", "leaf.example.test"),),
        False,
    )


@pytest.mark.parametrize(
    ("index", "expected"), [(0, True), (1, False), (2, False)], ids=["root", "intermediate", "leaf"]
)
def test_only_the_sm2_root_is_self_signed(chain: tuple[Sm2Issued, ...], index: int, expected: bool) -> None:
    assert is_self_signed(chain[index].cert) is expected


def test_a_root_self_signed_with_another_distinguishing_id_is_not_self_signed(
    chain: tuple[Sm2Issued, ...],
) -> None:
    root = chain[0]
    assert not is_self_signed(resigned(root, root.key, distinguishing_id=b"ALICE123@YAHOO.COM").cert)


def test_is_issued_by_checks_the_sm3withsm2_signature_with_the_issuers_key(
    chain: tuple[Sm2Issued, ...],
) -> None:
    root, intermediate, leaf = chain
    assert is_issued_by(leaf.cert, intermediate.cert)
    assert not is_issued_by(leaf.cert, root.cert)
    assert not is_issued_by(tampered(leaf).cert, intermediate.cert)


# --- keys -----------------------------------------------------------------------------------------------


def test_an_upload_with_its_sm2_key_loads_and_the_key_matches(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, leaf = chain

    loaded = load_upload(leaf.pem, private_key=_key_pem(leaf.key), chain=intermediate.pem + root.pem)

    assert isinstance(loaded.private_key, SM2PrivateKey)
    assert loaded.private_key.public_key() == leaf.key.public_key()
    check_key_matches(loaded.certificates[0], loaded.private_key)


def test_the_key_of_another_sm2_pair_is_key_mismatch(chain: tuple[Sm2Issued, ...]) -> None:
    with pytest.raises(KeyMismatch, match=r"does not match the certificate CN=leaf.example.test"):
        check_key_matches(chain[2].cert, chain[1].key)


def test_a_key_file_with_the_certificates_point_but_a_foreign_scalar_is_key_mismatch(
    chain: tuple[Sm2Issued, ...],
) -> None:
    # An SM2 key file carries its public point next to the scalar; nothing ties them but a signature.
    leaf, stranger = chain[2], generate_sm2_private_key()
    forged_der = SM2PrivateKey(stranger._scalar, leaf.key.public_key()).private_bytes_der()
    forged = load_upload(leaf.pem, private_key=base64.b64encode(forged_der).decode()).private_key
    assert forged is not None

    with pytest.raises(KeyMismatch):
        check_key_matches(leaf.cert, forged)


def test_an_ec_key_does_not_match_an_sm2_certificate_nor_an_sm2_key_an_ec_one(
    chain: tuple[Sm2Issued, ...],
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    ec_cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
        .serial_number(1).not_valid_before(NOW - DAY).not_valid_after(NOW + DAY).sign(ec_key, hashes.SHA256())
    )  # fmt: skip

    with pytest.raises(KeyMismatch):
        check_key_matches(chain[2].cert, ec_key)
    with pytest.raises(KeyMismatch):
        check_key_matches(ec_cert, chain[2].key)


# --- ordering and validation ------------------------------------------------------------------------------


def test_an_sm2_chain_given_in_any_order_is_ordered_leaf_first(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, leaf = chain

    ordered = order_chain([root.cert, leaf.cert, intermediate.cert])

    assert ordered.certificates == (leaf.cert, intermediate.cert, root.cert)
    assert ordered.is_complete


def test_a_valid_sm2_chain_validates_without_warnings(chain: tuple[Sm2Issued, ...]) -> None:
    assert validate_upload_chain(order_chain([c.cert for c in chain]), now=NOW) == ()


def test_an_sm2_chain_validates_up_to_a_trusted_sm2_root(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, leaf = chain
    ordered = order_chain([leaf.cert, intermediate.cert])

    assert validate_upload_chain(ordered, now=NOW, trusted=[root.cert]) == ()


def test_an_intermediate_signed_with_another_distinguishing_id_is_chain_invalid(
    chain: tuple[Sm2Issued, ...],
) -> None:
    root, intermediate, leaf = chain
    other_id = resigned(intermediate, root.key, distinguishing_id=b"ALICE123@YAHOO.COM")

    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=SM2 Issuing\): signature does not verify"):
        validate_upload_chain(order_chain([leaf.cert, other_id.cert, root.cert]), now=NOW)


def test_a_tampered_sm2_leaf_is_chain_invalid_naming_it(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, leaf = chain
    broken = tampered(leaf)

    with pytest.raises(ChainInvalid, match=r"certificate 1 .*signature does not verify with the key of"):
        validate_upload_chain(order_chain([broken.cert, intermediate.cert, root.cert]), now=NOW)


def test_an_expired_sm2_leaf_is_certificate_expired(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, _ = chain
    old = issue("leaf old", intermediate, not_before=NOW - 60 * DAY, not_after=NOW - DAY)

    with pytest.raises(CertificateExpired, match="expired on"):
        validate_upload_chain(order_chain([old.cert, intermediate.cert, root.cert]), now=NOW)


def test_an_expired_sm2_intermediate_is_chain_invalid_naming_it(chain: tuple[Sm2Issued, ...]) -> None:
    root = chain[0]
    lapsed = issue("Lapsed Issuing", root, ca=True, path_length=0, not_after=NOW - DAY)
    leaf = issue("leaf under lapsed", lapsed, not_after=NOW + DAY)

    with pytest.raises(ChainInvalid, match=r"certificate 2 \(CN=Lapsed Issuing\) expired on"):
        validate_upload_chain(order_chain([leaf.cert, lapsed.cert, root.cert]), now=NOW)


def test_a_path_longer_than_the_sm2_roots_path_length_is_chain_invalid() -> None:
    root = issue("Strict Root", ca=True, path_length=0)
    first = issue("First Issuing", root, ca=True, path_length=0)
    second = issue("Second Issuing", first, ca=True)
    leaf = issue("leaf deep", second)

    with pytest.raises(ChainInvalid, match="path length"):
        validate_upload_chain(order_chain([leaf.cert, second.cert, first.cert, root.cert]), now=NOW)


@pytest.mark.parametrize(
    ("ca", "key_usage", "reason"),
    [
        (True, _key_usage(ca=False), "keyCertSign"),
        (False, None, "is not a CA"),
    ],
    ids=["no-keyCertSign", "ca-false"],
)
def test_an_sm2_issuer_that_may_not_issue_is_chain_invalid(
    chain: tuple[Sm2Issued, ...], ca: bool, key_usage: x509.KeyUsage | None, reason: str
) -> None:
    root = chain[0]
    issuer = issue("Not An Issuer", root, ca=ca, key_usage=key_usage)
    leaf = issue("leaf below", issuer)

    with pytest.raises(ChainInvalid, match=reason):
        validate_upload_chain(order_chain([leaf.cert, issuer.cert, root.cert]), now=NOW)


def test_sm2_ca_certificates_upload_roots_first(chain: tuple[Sm2Issued, ...]) -> None:
    root, intermediate, _ = chain

    assert validate_ca_upload([intermediate.cert, root.cert], repository_certificates=[], now=NOW) == (
        root.cert,
        intermediate.cert,
    )


@pytest.mark.parametrize(("hostname", "valid"), [("leaf.example.test", True), ("other.example.test", False)])
def test_verify_chain_checks_an_sm2_server_certificate_and_its_host_name(
    chain: tuple[Sm2Issued, ...], hostname: str, valid: bool
) -> None:
    root, intermediate, leaf = chain

    verdict = verify_chain(
        leaf.cert,
        intermediates=[intermediate.cert],
        roots=[root.cert],
        at=NOW,
        hostname=hostname,
        usage="server",
    )

    assert verdict.valid is valid, verdict.errors


# --- the signature validator pyhanko uses ------------------------------------------------------------------


def _parts(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def test_sm3withsm2_under_an_ec_key_is_an_invalid_signature(chain: tuple[Sm2Issued, ...]) -> None:
    leaf = _parts(chain[2].cert)
    ec_spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    with pytest.raises(InvalidSignature):
        SIGNATURE_VALIDATOR.validate_signature(
            leaf["signature_value"].native,
            leaf["tbs_certificate"].dump(),
            asn1_keys.PublicKeyInfo.load(ec_spki),
            leaf["signature_algorithm"],
        )


def test_an_sm2_key_with_an_ecdsa_algorithm_is_an_invalid_signature(chain: tuple[Sm2Issued, ...]) -> None:
    leaf, intermediate = _parts(chain[2].cert), _parts(chain[1].cert)

    with pytest.raises(InvalidSignature):
        SIGNATURE_VALIDATOR.validate_signature(
            leaf["signature_value"].native,
            leaf["tbs_certificate"].dump(),
            intermediate.public_key,
            asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        )


# --- without gmssl-pyx ---------------------------------------------------------------------------------


def test_without_gmssl_an_sm2_chain_is_unsupported_and_says_why(
    chain: tuple[Sm2Issued, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gmssl_pyx", None)  # `import gmssl_pyx` now fails as if not installed

    with pytest.raises(Unsupported, match="gmssl-pyx"):
        order_chain([c.cert for c in chain])


def test_the_pki_package_imports_without_gmssl() -> None:
    code = (
        "import sys; sys.modules['gmssl_pyx'] = None\n"
        "import certrepo.pki.chain, certrepo.pki.issue, certrepo.pki.load, certrepo.pki.crl, certrepo.pki.ocsp\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


# --- a chain made by the OpenSSL 3 command line --------------------------------------------------------

_CA_EXTENSIONS = """basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""
_LEAF_EXTENSIONS = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:openssl-sm2.example.test
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""
_SM3_WITH_DEFAULT_ID = ("-sm3", "-sigopt", "distid:1234567812345678")


def _openssl(folder: Path, *args: str) -> str:
    result = subprocess.run(
        [OPENSSL, *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def openssl_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root.pem, int.pem, leaf.pem and their keys, as `openssl genpkey -algorithm SM2` / `req -sm3` make them."""
    if not Path(OPENSSL).exists():
        skip_or_fail(f"the openssl CLI is not at {OPENSSL}")
    folder = tmp_path_factory.mktemp("openssl-sm2")
    (folder / "ca.ext").write_text(_CA_EXTENSIONS)
    (folder / "leaf.ext").write_text(_LEAF_EXTENSIONS)
    for name in ("root", "int", "leaf"):
        _openssl(folder, "genpkey", "-algorithm", "SM2", "-out", f"{name}.key")
    _openssl(folder, "req", "-x509", "-new", "-key", "root.key", *_SM3_WITH_DEFAULT_ID, "-subj", "/CN=OpenSSL SM2 Root",
             "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")  # fmt: skip
    for name, issuer, subject, extensions, serial in (
        ("int", "root", "/CN=OpenSSL SM2 Issuing", "ca.ext", "101"),
        ("leaf", "int", "/CN=openssl-sm2.example.test", "leaf.ext", "102"),
    ):
        _openssl(folder, "req", "-new", "-key", f"{name}.key", *_SM3_WITH_DEFAULT_ID, "-subj", subject,
                 "-out", f"{name}.csr")  # fmt: skip
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                 *_SM3_WITH_DEFAULT_ID, "-vfyopt", "distid:1234567812345678", "-set_serial", serial,
                 "-days", "20", "-extfile", extensions, "-out", f"{name}.pem")  # fmt: skip
    return folder


def _openssl_key(folder: Path, encoding: str) -> str:
    if encoding == "pkcs8-pem":
        return (folder / "leaf.key").read_text()
    if encoding == "sec1-pem":  # `openssl ec` writes -----BEGIN SM2 PRIVATE KEY-----
        return _openssl(folder, "ec", "-in", "leaf.key")
    der = subprocess.run(
        [OPENSSL, "pkey", "-in", "leaf.key", "-outform", "DER"],
        cwd=folder,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    return base64.b64encode(der).decode()


@pytest.mark.parametrize("encoding", ["pkcs8-pem", "sec1-pem", "pkcs8-der-base64"])
def test_an_openssl_made_sm2_chain_loads_with_its_key_and_validates(
    openssl_chain: Path, encoding: str
) -> None:
    folder, now = openssl_chain, dt.datetime.now(dt.UTC)

    loaded = load_upload(
        (folder / "leaf.pem").read_text(),
        private_key=_openssl_key(folder, encoding),
        chain=(folder / "root.pem").read_text() + (folder / "int.pem").read_text(),
    )
    ordered = order_chain(loaded.certificates)
    assert isinstance(loaded.private_key, SM2PrivateKey)
    check_key_matches(ordered.leaf, loaded.private_key)

    assert validate_upload_chain(ordered, now=now) == ()
    assert certificate_facts(ordered.leaf).signature_algorithm == "SM3withSM2"


def test_an_encrypted_openssl_sm2_key_is_refused_with_a_clear_message(openssl_chain: Path) -> None:
    encrypted = _openssl(
        openssl_chain, "pkcs8", "-topk8", "-in", "leaf.key", "-v2", "aes-256-cbc", "-passout", "pass:secret"
    )

    with pytest.raises(InvalidInput, match="give SM2 keys unencrypted"):
        load_upload((openssl_chain / "leaf.pem").read_text(), private_key=encrypted, password=b"secret")
