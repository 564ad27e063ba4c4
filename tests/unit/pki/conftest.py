"""A small PKI built with cryptography's builders: good chains and each kind of broken one.

RSA keys are slow to make, so a few are generated once per session and reused; EC and Ed25519 keys are
made per certificate. Every date is relative to ``NOW``, which tests pass to the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

Key = CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


class Pki:
    """Certificate factory. ``issue`` takes every knob the corpus needs, with sensible defaults."""

    def __init__(self, rsa_keys: Sequence[rsa.RSAPrivateKey], rsa_1024: rsa.RSAPrivateKey) -> None:
        self.rsa_keys = list(rsa_keys)
        self.rsa_1024 = rsa_1024
        self.now = NOW

    def ec_key(self, curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(curve or ec.SECP256R1())

    def ed_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.generate()

    def issue(
        self,
        cn: str,
        issuer: Issued | None = None,
        *,
        key: Key | None = None,
        ca: bool = False,
        path_length: int | None = None,
        basic_constraints: bool = True,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_usage: dict[str, bool] | None = None,
        eku: Iterable[x509.ObjectIdentifier] | None = None,
        dns: Iterable[str] = (),
        permitted_dns: Iterable[str] = (),
        pss: bool = False,
        digest: hashes.HashAlgorithm | None = None,
    ) -> Issued:
        """A certificate for ``cn`` signed by ``issuer`` (self-signed when None)."""
        key = key or self.ec_key()
        signer_key = issuer.key if issuer else key
        issuer_name = issuer.cert.subject if issuer else None
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name or subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - 30 * DAY)
            .not_valid_after(not_after or NOW + 365 * DAY)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False
            )
            .add_extension(_key_usage(ca, key_usage), critical=True)
        )
        if basic_constraints:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=ca, path_length=path_length), critical=True
            )
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in dns]), critical=False
            )
        if permitted_dns:
            constraints = x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(name) for name in permitted_dns], excluded_subtrees=None
            )
            builder = builder.add_extension(constraints, critical=True)
        return Issued(_sign(builder, signer_key, pss, digest), key)

    def chain(self, kind: str = "ec") -> tuple[Issued, Issued, Issued]:
        """Root -> Intermediate -> leaf, all keys of ``kind`` (ec, rsa, pss, ed25519)."""
        makers: dict[str, Callable[[int], Key]] = {
            "ec": lambda _: self.ec_key(),
            "rsa": lambda i: self.rsa_keys[i],
            "pss": lambda i: self.rsa_keys[i],
            "ed25519": lambda _: self.ed_key(),
        }
        keys = makers[kind]
        pss = kind == "pss"
        root = self.issue("Root", key=keys(0), ca=True, pss=pss)
        intermediate = self.issue("Intermediate", root, key=keys(1), ca=True, pss=pss)
        leaf = self.issue(
            "leaf",
            intermediate,
            key=keys(2),
            dns=["leaf.example"],
            eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            pss=pss,
        )
        return root, intermediate, leaf

    def resign_weak(self, issued: Issued, signer: Key) -> Issued:
        """Re-sign ``issued`` with SHA-1 (cryptography refuses to sign with it, so do it by hand)."""
        return self.resign(issued, signer, digest="sha1")

    def resign(self, issued: Issued, signer: Key, *, digest: str = "sha256") -> Issued:
        """Re-sign ``issued`` by hand (RSA PKCS#1 or ECDSA)."""
        return Issued(
            x509.load_der_x509_certificate(self.resign_der(issued, signer, digest=digest)), issued.key
        )

    def resign_der(
        self,
        issued: Issued,
        signer: Key,
        *,
        digest: str = "sha256",
        serial: int | None = None,
        country: str | None = None,
    ) -> bytes:
        """DER of ``issued`` re-signed by hand, optionally with a serial cryptography would not write."""
        parsed = asn1_x509.Certificate.load(issued.der)
        family = "rsa" if isinstance(signer, rsa.RSAPrivateKey) else "ecdsa"
        algorithm = asn1_algos.SignedDigestAlgorithm({"algorithm": f"{digest}_{family}"})
        tbs = parsed["tbs_certificate"]
        tbs["signature"] = algorithm
        if serial is not None:
            tbs["serial_number"] = serial
        if country is not None:  # cryptography refuses to write a malformed country code
            tbs["subject"] = asn1_x509.Name.build({"common_name": "abroad", "country_name": country})
        to_sign = tbs.dump(force=True)
        chosen = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}[digest]
        if isinstance(signer, rsa.RSAPrivateKey):
            signature = signer.sign(to_sign, padding.PKCS1v15(), chosen)
        else:
            assert isinstance(signer, ec.EllipticCurvePrivateKey)
            signature = signer.sign(to_sign, ec.ECDSA(chosen))
        rebuilt = asn1_x509.Certificate(
            {"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature}
        )
        return bytes(rebuilt.dump())

    def tamper_signature(self, issued: Issued) -> Issued:
        """The same certificate with one bit of its signature flipped."""
        parsed = asn1_x509.Certificate.load(issued.der)
        signature = bytearray(parsed["signature_value"].native)
        signature[-1] ^= 0x01
        rebuilt = asn1_x509.Certificate(
            {
                "tbs_certificate": parsed["tbs_certificate"],
                "signature_algorithm": parsed["signature_algorithm"],
                "signature_value": bytes(signature),
            }
        )
        return Issued(x509.load_der_x509_certificate(rebuilt.dump()), issued.key)


def _key_usage(ca: bool, overrides: dict[str, bool] | None) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update({"key_cert_sign": True, "crl_sign": True} if ca else {"digital_signature": True})
    flags.update(overrides or {})
    return x509.KeyUsage(**flags)


def _sign(
    builder: x509.CertificateBuilder, key: Key, pss: bool, digest: hashes.HashAlgorithm | None
) -> x509.Certificate:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return builder.sign(key, None)
    algorithm = digest or hashes.SHA256()
    if pss:
        rsa_padding = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
        return builder.sign(key, algorithm, rsa_padding=rsa_padding)  # type: ignore[arg-type]
    return builder.sign(key, algorithm)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pki() -> Pki:
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    return Pki(keys, rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.fixture(scope="session")
def ec_chain(pki: Pki) -> tuple[Issued, Issued, Issued]:
    return pki.chain("ec")


@pytest.fixture(scope="session")
def rsa_chain(pki: Pki) -> tuple[Issued, Issued, Issued]:
    return pki.chain("rsa")


@pytest.fixture(scope="session")
def now(pki: Pki) -> dt.datetime:
    """The moment the corpus is built around; pass it to the code under test."""
    return pki.now
