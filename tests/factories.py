"""PKI fixtures built with cryptography's builders: chains, keys, PEM helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: CertificateIssuerPrivateKeyTypes, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def build(
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None = None,
    ca: bool = False,
    path_len: int | None = None,
    days: int = 365,
    not_before: dt.datetime | None = None,
    sans: list[str] | None = None,
    key_usage: str = "auto",
    eku: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    start = not_before or NOW - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    if key_usage == "auto":
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    elif key_usage == "signing":
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    algorithm = None if key.__class__.__name__.startswith("_Ed") else hashes.SHA256()
    return builder.sign(issuer_key, algorithm)


@dataclass
class Chain:
    root: x509.Certificate
    root_key: CertificateIssuerPrivateKeyTypes
    intermediate: x509.Certificate
    intermediate_key: CertificateIssuerPrivateKeyTypes
    leaf: x509.Certificate
    leaf_key: CertificateIssuerPrivateKeyTypes


def make_chain(
    prefix: str = "Test", *, leaf_eku: list[x509.ObjectIdentifier] | None = None, leaf_key_usage: str = "auto"
) -> Chain:
    root_key, int_key, leaf_key = ec_key(), ec_key(), ec_key()
    root = build(f"{prefix} Root", root_key, ca=True, days=3650)
    intermediate = build(f"{prefix} Intermediate", int_key, issuer=(root, root_key), ca=True, path_len=0)
    leaf = build(
        f"{prefix.lower()}.example.com",
        leaf_key,
        issuer=(intermediate, int_key),
        sans=[f"{prefix.lower()}.example.com"],
        eku=leaf_eku if leaf_eku is not None else [ExtendedKeyUsageOID.SERVER_AUTH],
        key_usage=leaf_key_usage,
    )
    return Chain(root, root_key, intermediate, int_key, leaf, leaf_key)
