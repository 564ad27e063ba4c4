"""PKI fixtures for the private-CA building blocks: one root and one intermediate per key family.

Keys are generated once per session (RSA generation dominates the run time). Times are anchored on the
real clock, rounded to the second, because the ``openssl`` CLI checks validity against its own clock; the
code under test never reads the clock, it gets ``NOW`` as an argument.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certrepo.domain.enums import IssueUsage, KeyAlgorithm
from certrepo.pki.issue import (
    San,
    SubjectSpec,
    build_intermediate_ca,
    build_root_ca,
    issue_certificate,
    new_serial,
)
from certrepo.pki.keygen import PrivateKey, PublicKey, generate_private_key

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CA_NOT_BEFORE = NOW - dt.timedelta(days=1)
ROOT_NOT_AFTER = NOW + dt.timedelta(days=3650)
INTERMEDIATE_NOT_AFTER = NOW + dt.timedelta(days=1825)
LEAF_NOT_BEFORE = NOW - dt.timedelta(minutes=5)
LEAF_NOT_AFTER = NOW + dt.timedelta(days=90)
CRL_URL = "http://pki.example.test/crl/7.crl"
OCSP_URL = "http://pki.example.test/ocsp/7"
OPENSSL = "/usr/bin/openssl"

ALL_SAN_TYPES = (
    San("dns", "app.example.test"),
    San("dns", "*.app.example.test"),
    San("email", "ops@example.test"),
    San("uri", "spiffe://example.test/ns/app"),
    San("ip", "192.0.2.10"),
    San("ip", "2001:db8::10"),
)


@dataclass(frozen=True)
class Ca:
    """A CA certificate with its key."""

    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class Hierarchy:
    """A root and an intermediate of one key family, plus a spare leaf key of that family."""

    root: Ca
    intermediate: Ca
    leaf_key: PrivateKey


def serial() -> int:
    """A fresh random serial for fixtures."""
    return new_serial(os.urandom)


def make_root(key: PrivateKey, name: str, *, path_len: int | None = 1) -> Ca:
    cert = build_root_ca(
        key=key,
        subject=SubjectSpec(common_name=name, organization="Example Test", country="CN"),
        not_before=CA_NOT_BEFORE,
        not_after=ROOT_NOT_AFTER,
        path_len=path_len,
        serial=serial(),
    )
    return Ca(cert, key)


def make_intermediate(root: Ca, key: PrivateKey, name: str, *, path_len: int | None = 0) -> Ca:
    cert = build_intermediate_ca(
        key_public=key.public_key(),
        subject=SubjectSpec(common_name=name, organization="Example Test", country="CN"),
        issuer_cert=root.cert,
        issuer_key=root.key,
        not_before=CA_NOT_BEFORE,
        not_after=INTERMEDIATE_NOT_AFTER,
        path_len=path_len,
        serial=serial(),
        crl_url="http://pki.example.test/crl/1.crl",
        ocsp_url="http://pki.example.test/ocsp/1",
    )
    return Ca(cert, key)


def issue_leaf(
    ca: Ca,
    public_key: PublicKey,
    *,
    profile: IssueUsage = IssueUsage.SERVER,
    sans: Sequence[San] = (San("dns", "app.example.test"),),
    subject: SubjectSpec | None = None,
    not_before: dt.datetime = LEAF_NOT_BEFORE,
    not_after: dt.datetime = LEAF_NOT_AFTER,
    serial_number: int | None = None,
) -> x509.Certificate:
    """issue_certificate with the fixtures' defaults; tests override what they exercise."""
    return issue_certificate(
        ca_cert=ca.cert,
        ca_key=ca.key,
        public_key=public_key,
        subject=subject or SubjectSpec(common_name="app.example.test", organization="Example Test"),
        sans=sans,
        not_before=not_before,
        not_after=not_after,
        profile=profile,
        serial=serial_number if serial_number is not None else serial(),
        crl_url=CRL_URL,
        ocsp_url=OCSP_URL,
        now=NOW,
    )


@pytest.fixture(scope="session")
def rsa_pki() -> Hierarchy:
    root = make_root(generate_private_key(KeyAlgorithm.RSA_3072), "Test RSA Root")
    intermediate = make_intermediate(
        root, generate_private_key(KeyAlgorithm.RSA_2048), "Test RSA Intermediate"
    )
    return Hierarchy(root, intermediate, generate_private_key(KeyAlgorithm.RSA_2048))


@pytest.fixture(scope="session")
def ec_pki() -> Hierarchy:
    root = make_root(generate_private_key(KeyAlgorithm.ECC_384), "Test EC Root")
    intermediate = make_intermediate(root, generate_private_key(KeyAlgorithm.ECC_256), "Test EC Intermediate")
    return Hierarchy(root, intermediate, generate_private_key(KeyAlgorithm.ECC_256))


@pytest.fixture(scope="session")
def ed25519_pki() -> Hierarchy:
    root = make_root(generate_private_key(KeyAlgorithm.ED25519), "Test Ed25519 Root")
    intermediate = make_intermediate(
        root, generate_private_key(KeyAlgorithm.ED25519), "Test Ed25519 Intermediate"
    )
    return Hierarchy(root, intermediate, generate_private_key(KeyAlgorithm.ED25519))


@pytest.fixture(scope="session")
def pki_by_family(
    rsa_pki: Hierarchy, ec_pki: Hierarchy, ed25519_pki: Hierarchy
) -> Callable[[str], Hierarchy]:
    table = {"RSA": rsa_pki, "EC": ec_pki, "ED25519": ed25519_pki}
    return table.__getitem__


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    """Write certificates as one PEM file and return its path."""
    path.write_bytes(b"".join(cert.public_bytes(Encoding.PEM) for cert in certs))
    return path


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the openssl CLI; never raises on a non-zero exit (tests assert on it)."""
    return subprocess.run(  # fixed binary, arguments built by the tests
        [OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
