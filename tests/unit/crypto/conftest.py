"""Fixtures of the crypto tests: keys made once per session, a root + leaf PKI, the OpenSSL CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.conftest import skip_or_fail

from certrepo.crypto.keys import PrivateKey
from certrepo.crypto.sm2 import is_sm2_available, load_sm2_private_key

# The instant the test PKI is checked at (certificates are valid 2020..2040; OpenSSL gets -attime).
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Test-only SM2 keys made with `openssl genpkey -algorithm SM2` (OpenSSL 3.0), in its encodings.
SM2_PKCS8_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgTXpyWbOemgHewDNl
8YwD2Mgt/MnCEauigimatk1TYtqhRANCAATZhq7cYUd50RpCe7SaZOO43Araw1tS
uhnbVOmm3mXz1KyUVFnzf5paaKUdmpMCf+0cmdnrMIbvQ9ytURnYE66Q
-----END PRIVATE KEY-----
"""
SM2_SPKI_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAE2Yau3GFHedEaQnu0mmTjuNwK2sNb
UroZ21Tppt5l89SslFRZ83+aWmilHZqTAn/tHJnZ6zCG70PcrVEZ2BOukA==
-----END PUBLIC KEY-----
"""
# `openssl ec -in key.pem`: SEC1 with the named curve and the public point.
SM2_SEC1_PEM = b"""-----BEGIN SM2 PRIVATE KEY-----
MHcCAQEEIE16clmznpoB3sAzZfGMA9jILfzJwhGrooIpmrZNU2LaoAoGCCqBHM9V
AYItoUQDQgAE2Yau3GFHedEaQnu0mmTjuNwK2sNbUroZ21Tppt5l89SslFRZ83+a
WmilHZqTAn/tHJnZ6zCG70PcrVEZ2BOukA==
-----END SM2 PRIVATE KEY-----
"""
# `openssl ec -in key.pem -no_public`: the same key without its public point.
SM2_SEC1_NO_PUBLIC_PEM = b"""-----BEGIN SM2 PRIVATE KEY-----
MDECAQEEIE16clmznpoB3sAzZfGMA9jILfzJwhGrooIpmrZNU2LaoAoGCCqBHM9V
AYIt
-----END SM2 PRIVATE KEY-----
"""
# A second, unrelated SM2 key.
SM2_OTHER_PKCS8_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg3mTwiBPCIDG+gIpE
KCL6xvUdKK5Q3Xhz58C6s0sEojqhRANCAAStg+zeRJ7jzusBTYdExDhg8e+ori59
sbQqukwn+1xtYOLm+pwHL/ZTb496UAhhkeYCrGPKeSbKRVMEB0vWtRzj
-----END PRIVATE KEY-----
"""


_KEY_FACTORIES: dict[str, Callable[[], PrivateKey]] = {
    "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
    "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
    "rsa3072": lambda: rsa.generate_private_key(65537, 3072),
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p256_other": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed25519_other": ed25519.Ed25519PrivateKey.generate,
    "sm2": lambda: load_sm2_private_key(SM2_PKCS8_PEM),
    "sm2_other": lambda: load_sm2_private_key(SM2_OTHER_PKCS8_PEM),
}


class KeyRing:
    """Private keys by name, each made on first use and kept for the session (RSA keygen is slow)."""

    names = tuple(_KEY_FACTORIES)

    def __init__(self) -> None:
        self._keys: dict[str, PrivateKey] = {}

    def __getitem__(self, name: str) -> PrivateKey:
        if name not in self._keys:
            self._keys[name] = _KEY_FACTORIES[name]()
        return self._keys[name]


@pytest.fixture(scope="session")
def key_ring() -> KeyRing:
    return KeyRing()


@pytest.fixture
def require_sm2() -> None:
    """Skip (or fail under CERTREPO_REQUIRE_ALL) when gmssl-pyx is not installed."""
    if not is_sm2_available():
        skip_or_fail("SM2 operations need the optional gmssl-pyx package, which is not installed")


@pytest.fixture
def needs_sm2() -> Callable[..., None]:
    """``needs_sm2(*names)``: require gmssl-pyx when a parametrized algorithm or key name is SM2."""

    def check(*names: str) -> None:
        if any("SM2" in name.upper() for name in names) and not is_sm2_available():
            skip_or_fail("SM2 operations need the optional gmssl-pyx package, which is not installed")

    return check


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Pki:
    """A P-256 root CA and, per key name, a document-signing leaf certificate it issued."""

    def __init__(self, key_ring: KeyRing) -> None:
        self._key_ring = key_ring
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = (
            self._builder(
                _name("certrepo test root"), _name("certrepo test root"), self.root_key.public_key()
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(self.root_key, hashes.SHA256())
        )
        self._leaves: dict[str, x509.Certificate] = {}

    def leaf(self, key_name: str) -> x509.Certificate:
        if key_name not in self._leaves:
            key = self._key_ring[key_name]
            self._leaves[key_name] = (
                self._builder(_name(f"signer {key_name}"), self.root.subject, key.public_key())
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(cert_sign=False), critical=True)
                # emailProtection: what `openssl cms -verify` (purpose smime_sign) requires of a signer.
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .sign(self.root_key, hashes.SHA256())
            )
        return self._leaves[key_name]

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture(scope="session")
def pki(key_ring: KeyRing) -> Pki:
    return Pki(key_ring)


class OpenSSL:
    """The real ``openssl`` CLI, run in a scratch directory; failures carry OpenSSL's stderr."""

    def __init__(self, executable: str, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir

    def path(self, name: str, content: bytes | None = None) -> Path:
        """A file in the scratch directory, written first when ``content`` is given."""
        path = self.workdir / name
        if content is not None:
            path.write_bytes(content)
        return path

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
        """Run openssl; returns the completed process whatever its exit code."""
        return subprocess.run(
            [self.executable, *map(str, args)], cwd=self.workdir, capture_output=True, timeout=60, check=False
        )

    def ok(self, *args: str | Path) -> bytes:
        """Run openssl and require success; returns stdout."""
        result = self.run(*args)
        assert result.returncode == 0, f"openssl {' '.join(map(str, args))} failed: {result.stderr.decode()}"
        return result.stdout

    def supports_sm2(self) -> bool:
        return self.run("genpkey", "-algorithm", "SM2", "-out", self.path("probe-sm2.pem")).returncode == 0


@pytest.fixture
def openssl(tmp_path: Path) -> OpenSSL:
    executable = "/usr/bin/openssl" if Path("/usr/bin/openssl").exists() else shutil.which("openssl")
    if executable is None:
        skip_or_fail("the openssl CLI is not installed; interop tests need it")
    assert executable is not None
    return OpenSSL(executable, tmp_path)


@pytest.fixture
def attime() -> str:
    """NOW as the epoch seconds OpenSSL's -attime takes (the test PKI is checked at NOW)."""
    return str(int(NOW.timestamp()))


@pytest.fixture
def now() -> datetime:
    return NOW


class Sm2Pem:
    """The test SM2 keys' encodings (constants above), for tests of the SM2 loaders."""

    pkcs8 = SM2_PKCS8_PEM
    spki = SM2_SPKI_PEM
    sec1 = SM2_SEC1_PEM
    sec1_no_public = SM2_SEC1_NO_PUBLIC_PEM
    other_pkcs8 = SM2_OTHER_PKCS8_PEM


@pytest.fixture
def sm2_pem() -> type[Sm2Pem]:
    return Sm2Pem


@pytest.fixture
def skip_or_fail_missing() -> Callable[[str], None]:
    """``skip_or_fail`` for tests that find a missing component themselves."""
    return skip_or_fail
