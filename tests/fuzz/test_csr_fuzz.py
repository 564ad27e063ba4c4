"""Hostile PKCS#10 requests: mutated DER and PEM, validly signed requests with mutated bodies, hostile
subjects and SANs. At the pki level only certrepo's errors come out, and an accepted request is one its
key signed; through the issuance route in process the answer is never a 5xx."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from certrepo.domain.errors import CertrepoError, InvalidInput
from certrepo.pki.csr import CsrFacts, csr_facts, load_csr
from tests.fuzz import run_atheris
from tests.support.inprocess import in_process_app

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PKI_EXAMPLES = settings(max_examples=150, deadline=None)
ROUTE_EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@dataclass(frozen=True)
class Seed:
    """A well-formed request of one key family, and what fuzzing it must preserve."""

    family: str  # the issuing CA's key family that accepts it: EC, RSA or ED25519
    key: SigningKey
    csr: x509.CertificateSigningRequest

    @property
    def der(self) -> bytes:
        return self.csr.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.csr.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def public_der(self) -> bytes:
        return _public_der(self.key.public_key())


def _public_der(key: Any) -> bytes:
    spki: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki


def _hash_for(key: SigningKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def _seed_request(key: SigningKey, common_name: str, *, rich: bool) -> x509.CertificateSigningRequest:
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    builder = x509.CertificateSigningRequestBuilder()
    if rich:
        subject += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fuzz Org"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.test"),
        ]
        sans: list[x509.GeneralName] = [
            x509.DNSName(common_name),
            x509.RFC822Name("ops@example.test"),
            x509.UniformResourceIdentifier("https://example.test/app"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
            x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False).add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        builder = builder.add_attribute(x509.oid.AttributeOID.CHALLENGE_PASSWORD, b"fuzz-password")
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False
        )
    return builder.subject_name(x509.Name(subject)).sign(key, _hash_for(key))


@pytest.fixture(scope="module")
def seeds() -> list[Seed]:
    """One rich and one plain request per family the private CA issues (RSA generated once: ~60 ms)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys: list[tuple[str, SigningKey]] = [
        ("EC", ec.generate_private_key(ec.SECP256R1())),
        ("EC", ec.generate_private_key(ec.SECP384R1())),
        ("ED25519", ed25519.Ed25519PrivateKey.generate()),
        ("RSA", rsa_key),
    ]
    return [
        Seed(family, key, _seed_request(key, f"seed{index}.example.test", rich=rich))
        for index, (family, key) in enumerate(keys)
        for rich in (True, False)
    ]


# --- building hostile requests ------------------------------------------------------------------------


def _mutated(data: st.DataObject, raw: bytes) -> bytes:
    """1 to 4 edits: overwritten bytes, a cut, an insertion, a deletion or a duplicated slice."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        if not out:
            break
        kind = data.draw(st.sampled_from(["overwrite", "truncate", "insert", "delete", "duplicate"]))
        at = data.draw(st.integers(0, len(out) - 1))
        if kind == "overwrite":
            out[at] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            end = data.draw(st.integers(at, min(len(out), at + 64)))
            if kind == "delete":
                del out[at:end]
            else:
                out[at:at] = out[at:end]
    return bytes(out)


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _signed(seed: Seed, tbs: bytes) -> bytes:
    """A CertificationRequest over ``tbs``, signed by the seed's key with the seed's algorithm: whatever
    the body says, its signature verifies, so everything after the signature check is exercised."""
    key, algorithm = seed.key, _hash_for(seed.key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(tbs)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        assert algorithm is not None
        signature = key.sign(tbs, ec.ECDSA(algorithm))
    else:
        assert algorithm is not None
        signature = key.sign(tbs, padding.PKCS1v15(), algorithm)
    algorithm_der = asn1_csr.CertificationRequest.load(seed.der)["signature_algorithm"].dump()
    return _tlv(0x30, tbs + algorithm_der + _tlv(0x03, b"\x00" + signature))


def _pem_of(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)
_ATTRIBUTE_OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.EMAIL_ADDRESS,
    NameOID.SERIAL_NUMBER,
    ObjectIdentifier("1.2.3.4.5"),
]


@st.composite
def _general_names(draw: st.DrawFn) -> x509.GeneralName:
    ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), min_size=1, max_size=60)
    kind = draw(st.sampled_from(["dns", "email", "uri", "ip", "dirname", "rid", "other"]))
    text_names: dict[str, Callable[[str], x509.GeneralName]] = {
        "dns": x509.DNSName,
        "email": x509.RFC822Name,
        "uri": x509.UniformResourceIdentifier,
    }
    if kind in text_names:
        try:
            return text_names[kind](draw(ascii_text))
        except ValueError:  # cryptography refuses to build it (an email without '@'): no such request
            return x509.DNSName("fallback.example.test")
    if kind == "ip":
        address = draw(st.ip_addresses())
        if draw(st.booleans()):  # a network: what a name constraint holds, not a SAN
            prefix = draw(st.integers(0, address.max_prefixlen))
            return x509.IPAddress(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        return x509.IPAddress(address)
    if kind == "dirname":
        return x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dir")]))
    if kind == "rid":
        return x509.RegisteredID(ObjectIdentifier("1.2.3.4"))
    return x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03abc")


def _attribute(oid: ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    # _validate=False: values of any length (a 3-letter country, an empty name), as a hostile client can
    # encode them; cryptography then warns instead of refusing, and warnings are errors here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.NameAttribute(oid, value, _validate=False)


@st.composite
def _hostile_subject_request(draw: st.DrawFn, seed: Seed) -> bytes:
    """A request the builder makes and the seed's key signs, with any attributes and SANs."""
    attributes = [
        _attribute(draw(st.sampled_from(_ATTRIBUTE_OIDS)), draw(_TEXT))
        for _ in range(draw(st.integers(0, 5)))
    ]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    names = draw(st.lists(_general_names(), max_size=6))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=draw(st.booleans()))
    if draw(st.booleans()):
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    try:
        csr = builder.sign(seed.key, _hash_for(seed.key))
    except (ValueError, UnicodeEncodeError):
        # The builder refuses what it cannot encode (a non-ASCII DNS name): no request to send.
        csr = seed.csr
    return csr.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Hostile:
    """A request as the API takes it (PEM or base64 DER), and the seed whose key signed it."""

    text: str
    seed: Seed
    how: str


def _hostile(data: st.DataObject, seeds: list[Seed]) -> Hostile:
    seed = data.draw(st.sampled_from(seeds), label="seed")
    how = data.draw(st.sampled_from(["der", "pem", "resigned", "subject"]), label="how")
    if how == "der":
        der = _mutated(data, seed.der)
    elif how == "resigned":
        der = _signed(seed, _mutated(data, seed.csr.tbs_certrequest_bytes))
    elif how == "subject":
        der = data.draw(_hostile_subject_request(seed))
    else:
        text = _mutated(data, seed.pem.encode()).decode("utf-8", errors="replace")
        return Hostile(text, seed, how)
    as_pem = data.draw(st.booleans(), label="as pem")
    return Hostile(_pem_of(der) if as_pem else base64.b64encode(der).decode(), seed, how)


def _read(data: bytes | str) -> CsrFacts | None:
    """What issuance does with a request; None when certrepo refused it with one of its own errors."""
    try:
        facts = csr_facts(load_csr(data))
    except CertrepoError:
        return None
    # What the issuance service reads next: the subject's attributes as text, and the SANs.
    for attribute in facts.subject:
        str(attribute.value)
    for san in facts.sans:
        assert san.type in ("dns", "email", "uri", "ip") and isinstance(san.value, str)
    return facts


# --- the pki level ------------------------------------------------------------------------------------


@PKI_EXAMPLES
@given(data=st.data())
def test_a_mutated_der_request_is_refused_or_still_the_one_its_key_signed(
    seeds: list[Seed], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(seeds))
    mutated = _mutated(data, seed.der)
    facts = _read(mutated)
    if facts is not None:
        # The signature covers the request info: what is accepted is what the key holder signed.
        assert load_csr(mutated).tbs_certrequest_bytes == seed.csr.tbs_certrequest_bytes


@PKI_EXAMPLES
@given(data=st.data())
def test_a_mutated_pem_request_is_refused_or_still_the_one_its_key_signed(
    seeds: list[Seed], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(seeds))
    mutated = _mutated(data, seed.pem.encode()).decode("utf-8", errors="replace")
    facts = _read(mutated)
    if facts is not None:
        assert load_csr(mutated).tbs_certrequest_bytes == seed.csr.tbs_certrequest_bytes


@PKI_EXAMPLES
@given(blob=st.binary(max_size=2048), as_pem=st.booleans())
def test_arbitrary_bytes_are_refused_with_a_certrepo_error(blob: bytes, as_pem: bool) -> None:
    data: bytes | str = _pem_of(blob) if as_pem else blob
    assert _read(data) is None


@PKI_EXAMPLES
@given(data=st.data())
def test_a_validly_signed_request_with_a_mutated_body_is_read_or_refused_with_a_certrepo_error(
    seeds: list[Seed], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(seeds))
    facts = _read(_signed(seed, _mutated(data, seed.csr.tbs_certrequest_bytes)))
    if facts is not None:
        # Proof of possession holds: the key in the request is the key that signed it.
        assert _public_der(facts.public_key) == seed.public_der


@PKI_EXAMPLES
@given(data=st.data())
def test_hostile_subjects_and_sans_are_read_or_refused_with_a_certrepo_error(
    seeds: list[Seed], data: st.DataObject
) -> None:
    seed = data.draw(st.sampled_from(seeds))
    facts = _read(data.draw(_hostile_subject_request(seed)))
    if facts is not None:
        assert _public_der(facts.public_key) == seed.public_der


@pytest.mark.parametrize("version", [1, 2, 64, 127])
def test_a_request_of_a_version_other_than_1_is_invalid_input(seeds: list[Seed], version: int) -> None:
    # cryptography's InvalidVersion is no ValueError: found by atheris, a 500 through the issue route.
    tbs = bytearray(seeds[0].csr.tbs_certrequest_bytes)
    at = tbs.index(b"\x02\x01\x00")  # CertificationRequestInfo.version, the first field
    tbs[at + 2] = version
    with pytest.raises(InvalidInput, match=f"version {version}"):
        load_csr(_signed(seeds[0], bytes(tbs)))


_ATHERIS_HARNESS = """
import sys

import atheris

with atheris.instrument_imports(include=["certrepo"]):
    from certrepo.pki.csr import csr_facts, load_csr
from certrepo.domain.errors import CertrepoError


def one_input(data: bytes) -> None:
    try:
        facts = csr_facts(load_csr(data))
    except CertrepoError:
        return
    for attribute in facts.subject:
        str(attribute.value)


atheris.Setup(sys.argv, one_input)
atheris.Fuzz()
"""


def test_atheris_finds_no_other_exception_in_the_csr_loader(seeds: list[Seed], tmp_path: Path) -> None:
    """Coverage-guided (of certrepo's Python; cryptography's Rust parser is not instrumented), from the
    seeds as DER and PEM."""
    corpus = [seed.der for seed in seeds] + [seed.pem.encode() for seed in seeds[:2]]
    run_atheris(_ATHERIS_HARNESS, corpus, tmp_path, seconds=2)


# --- through the issuance route -----------------------------------------------------------------------


class _Issuer:
    """The app in process on a loop of its own (hypothesis drives plain functions), with one private
    repository per key family, each bound to an intermediate CA of that family."""

    def __init__(self, http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.http, self.loop = http, loop
        self.repositories: dict[str, int] = {}

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.loop.run_until_complete(self.http.post(path, json=body))

    def add_repository(self, family: str, key_algorithm: str) -> None:
        root = self.post(
            "/v1/cas", {"type": "root", "common_name": f"Fuzz {family} Root", "key_algorithm": key_algorithm}
        )
        assert root.status_code == 201, root.text
        sub = self.post(
            "/v1/cas",
            {
                "type": "intermediate",
                "common_name": f"Fuzz {family} CA",
                "key_algorithm": key_algorithm,
                "parent_id": root.json()["id"],
            },
        )
        assert sub.status_code == 201, sub.text
        repository = self.post("/v1/repositories", {"data_source": "private", "ca_id": sub.json()["id"]})
        assert repository.status_code == 201, repository.text
        self.repositories[family] = repository.json()["id"]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Issuer]:
    with in_process_app(tmp_path_factory.mktemp("csr-fuzz")) as running:
        http = running.client()
        client = _Issuer(http, running.loop)
        try:
            for family, algorithm in (("EC", "ECC_256"), ("ED25519", "ED25519"), ("RSA", "RSA_2048")):
                client.add_repository(family, algorithm)
            yield client
        finally:
            running.loop.run_until_complete(http.aclose())


@ROUTE_EXAMPLES
@given(data=st.data())
def test_a_hostile_request_through_the_issue_route_is_never_a_5xx(
    issuer: _Issuer, seeds: list[Seed], data: st.DataObject
) -> None:
    hostile = _hostile(data, seeds)
    # Mostly the repository whose CA fits the key, sometimes another (AlgorithmMismatch).
    family = data.draw(st.sampled_from([hostile.seed.family] * 3 + sorted(issuer.repositories)))
    body: dict[str, Any] = {"csr": hostile.text, "usage": data.draw(st.sampled_from(["server", "client"]))}
    if data.draw(st.booleans()):
        body["days"] = data.draw(st.integers(-5, 4000))
    response = issuer.post(f"/v1/repositories/{issuer.repositories[family]}/issue", body)
    event(f"{hostile.how} -> {response.status_code}")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["code"] and response.json()["message"]
        return
    issued = x509.load_pem_x509_certificate(response.json()["pem"].encode())
    assert _public_der(issued.public_key()) == hostile.seed.public_der


def test_every_seed_is_issued_unchanged(issuer: _Issuer, seeds: list[Seed]) -> None:
    """The fuzzing starts from requests the route accepts (else the fuzz tests prove little)."""
    for seed in seeds:
        path = f"/v1/repositories/{issuer.repositories[seed.family]}/issue"
        response = issuer.post(path, {"csr": seed.pem, "usage": "server"})
        assert response.status_code == 201, f"{seed.family}: {response.text}"
