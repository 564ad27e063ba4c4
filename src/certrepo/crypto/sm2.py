"""SM2 keys, SM3withSM2 signatures and SM2PKE encryption (GB/T 32918), on the optional gmssl-pyx package.

cryptography has no SM2 curve, so SM2 keys are small value types here, parsed with asn1crypto (PKCS#8,
SEC1 and SubjectPublicKeyInfo with the SM2 curve OID). Only the operations need gmssl-pyx, imported
lazily: the rest of certrepo imports and runs without it, and an SM2 operation without it answers
``Unsupported``.

Formats match OpenSSL 3 and GmSSL: signatures are DER ``SEQUENCE {r, s}``; ciphertexts are DER
``SEQUENCE {x, y, C3 (SM3 hash), C2}`` (the C1C3C2 order of GB/T 32918.4-2016 and GM/T 0009).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

from asn1crypto import algos, core, keys, pem
from cryptography.hazmat.primitives import serialization

from certrepo.crypto.base import KeyedSignature
from certrepo.crypto.messages import Message, check_digest_size
from certrepo.domain.errors import InvalidInput, KeyMismatch, MessageTooLarge, Unsupported

__all__ = [
    "DEFAULT_DISTINGUISHING_ID",
    "SM2PKE_MAX_PLAINTEXT_BYTES",
    "SM2_CURVE_OID",
    "SM2PrivateKey",
    "SM2PublicKey",
    "Sm2Encryption",
    "Sm2Signature",
    "generate_sm2_private_key",
    "is_sm2_available",
    "load_sm2_private_key",
    "load_sm2_public_key",
    "sm2_keys_match",
    "sm2_public_key_from_spki",
    "sm2_sign",
    "sm2_verify",
    "sm3_message_digest",
]

SM2_CURVE_OID = "1.2.156.10197.1.301"
_EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"

# GB/T 32918.2 §5.5 / GM/T 0009 §10: the default distinguishing ID, used by OpenSSL, GmSSL and Alibaba.
DEFAULT_DISTINGUISHING_ID = b"1234567812345678"

# gmssl-pyx 2.1 (GmSSL 3.2 sm2_encrypt) handles 1..255 bytes per call. SPEC §1.3 names 6047 bytes
# (Alibaba's limit); reaching it needs an SM2 encryption the installed libraries do not offer, and a
# pure-Python point multiplication on the private key is not an option. So 255 is what really works.
SM2PKE_MAX_PLAINTEXT_BYTES = 255

# Curve parameters of GB/T 32918.5 (public constants; used for checks on public data only).
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


def is_sm2_available() -> bool:
    """Whether the optional gmssl-pyx package (needed for SM2 operations) can be imported."""
    try:
        _gmssl()
    except Unsupported:
        return False
    return True


def _gmssl() -> ModuleType:
    try:
        gmssl_pyx = importlib.import_module("gmssl_pyx")
    except ImportError:
        raise Unsupported(
            "SM2 operations need the optional gmssl-pyx package, which is not installed"
        ) from None
    return gmssl_pyx


# --- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SM2PublicKey:
    """An SM2 public key: the point as 64 bytes ``x || y``. Raises InvalidInput if not on the curve."""

    point: bytes

    key_size = 256

    def __post_init__(self) -> None:
        if len(self.point) != 64:
            raise InvalidInput(f"an SM2 public key is 64 bytes (x || y), got {len(self.point)}")
        x, y = int.from_bytes(self.point[:32], "big"), int.from_bytes(self.point[32:], "big")
        if not (x < _P and y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0):
            raise InvalidInput("the SM2 public key is not a point on the SM2 curve")

    def public_bytes_der(self) -> bytes:
        """The SubjectPublicKeyInfo (DER), as in certificates and ``openssl pkey -pubout``."""
        info = keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "ec", "parameters": _curve_parameters()},
                "public_key": self._uncompressed,
            }
        )
        return bytes(info.dump())

    def public_bytes(self, encoding: serialization.Encoding, format: serialization.PublicFormat) -> bytes:
        """SubjectPublicKeyInfo in DER or PEM: the call cryptography's keys answer, so that callers
        compare and store keys of every family alike. Raises Unsupported for other formats."""
        if format is not serialization.PublicFormat.SubjectPublicKeyInfo:
            raise Unsupported("SM2 public keys are written as SubjectPublicKeyInfo only")
        return _encoded(self.public_bytes_der(), encoding, "PUBLIC KEY")

    @property
    def _uncompressed(self) -> bytes:
        return b"\x04" + self.point


class SM2PrivateKey:
    """An SM2 private key (32-byte scalar) with its public key; ``repr`` never shows the scalar."""

    __slots__ = ("_public", "_scalar")

    key_size = 256

    def __init__(self, scalar: bytes, public_key: SM2PublicKey) -> None:
        d = int.from_bytes(scalar, "big")
        # GB/T 32918.1 §6.1: d is in [1, n-2].
        if len(scalar) != 32 or not 1 <= d <= _N - 2:
            raise InvalidInput("the SM2 private key is out of range for the SM2 curve")
        self._scalar = scalar
        self._public = public_key

    def public_key(self) -> SM2PublicKey:
        """The matching public key (same method name as cryptography's key objects)."""
        return self._public

    def private_bytes_der(self) -> bytes:
        """PKCS#8 DER (unencrypted: the caller hands it straight to the keystore)."""
        inner = keys.ECPrivateKey(
            {
                "version": "ecPrivkeyVer1",
                "private_key": int.from_bytes(self._scalar, "big"),
                "public_key": self._public._uncompressed,
            }
        )
        inner.set_key_size(32)  # RFC 5915: the scalar is encoded on the curve's full 32 bytes
        pkcs8 = _Pkcs8(
            {
                "version": 0,
                "algorithm": {"algorithm": _EC_PUBLIC_KEY_OID, "parameters": SM2_CURVE_OID},
                "private_key": inner.dump(force=True),
            }
        )
        return bytes(pkcs8.dump())

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Unencrypted PKCS#8 in DER or PEM, as cryptography's ``private_bytes`` writes it (the keystore
        seals it; an issuance hands it out once). Raises Unsupported for other formats or encryption."""
        if format is not serialization.PrivateFormat.PKCS8 or not isinstance(
            encryption_algorithm, serialization.NoEncryption
        ):
            raise Unsupported("SM2 private keys are written as unencrypted PKCS#8 only")
        return _encoded(self.private_bytes_der(), encoding, "PRIVATE KEY")

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public.point[:4].hex()}..., private=***)"

    __str__ = __repr__


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    # Our own minimal spec: asn1crypto's PrivateKeyInfo wants a registered key size for every curve,
    # and registering SM2 globally would change what asn1crypto reports to every other caller.
    _fields: ClassVar[list[tuple[str, type]]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.ObjectIdentifier),
    ]


class _Pkcs8(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[str, type]]] = [
        ("version", core.Integer),
        ("algorithm", _AlgorithmIdentifier),
        ("private_key", core.OctetString),
    ]


class _Sm2Ciphertext(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[str, type]]] = [
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("ciphertext", core.OctetString),
    ]


def _curve_parameters() -> keys.ECDomainParameters:
    return keys.ECDomainParameters(name="named", value=SM2_CURVE_OID)


def _encoded(der: bytes, encoding: serialization.Encoding, pem_label: str) -> bytes:
    if encoding is serialization.Encoding.DER:
        return der
    if encoding is serialization.Encoding.PEM:
        return bytes(pem.armor(pem_label, der))
    raise Unsupported(f"SM2 keys are written in DER or PEM, not {encoding}")


def generate_sm2_private_key() -> SM2PrivateKey:
    """A new random SM2 key. Raises Unsupported without gmssl-pyx."""
    public, private = _gmssl().sm2_key_generate()
    return SM2PrivateKey(private, SM2PublicKey(public))


def load_sm2_private_key(data: bytes, *, public_key: SM2PublicKey | None = None) -> SM2PrivateKey:
    """Load an SM2 private key from PEM or DER, PKCS#8 or SEC1.

    A SEC1 key may omit its public point; then ``public_key`` (e.g. from the certificate) supplies it.
    Raises InvalidInput (malformed, encrypted, no public key), Unsupported (another curve), KeyMismatch.
    """
    der = _unarmor(data, "PRIVATE KEY", "SM2 private key")
    ec_key = _parse_pkcs8(der)
    if ec_key is None:
        ec_key = _parse_sec1(der)
    if ec_key is None:
        raise InvalidInput("the SM2 private key is neither PKCS#8 nor SEC1 DER")
    try:
        scalar = int(ec_key["private_key"].native).to_bytes(32, "big")
        embedded = ec_key["public_key"].native
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput("the SM2 private key is malformed") from None
    if embedded is None and public_key is None:
        raise InvalidInput("the SM2 private key carries no public key; give the certificate's public key too")
    if embedded is None:
        assert public_key is not None
        return SM2PrivateKey(scalar, public_key)
    embedded_key = _point_from_encoded(embedded)
    if public_key is not None and public_key != embedded_key:
        raise KeyMismatch("the SM2 private key does not belong to the given public key")
    return SM2PrivateKey(scalar, embedded_key)


def load_sm2_public_key(data: bytes) -> SM2PublicKey:
    """Load an SM2 public key from a PEM or DER SubjectPublicKeyInfo. Raises InvalidInput, Unsupported."""
    return sm2_public_key_from_spki(_unarmor(data, "PUBLIC KEY", "SM2 public key"))


def sm2_public_key_from_spki(spki_der: bytes) -> SM2PublicKey:
    """The SM2 key of a SubjectPublicKeyInfo (DER). Raises InvalidInput, Unsupported (not SM2)."""
    try:
        info = keys.PublicKeyInfo.load(spki_der, strict=True)
        algorithm = info["algorithm"]["algorithm"].dotted
        curve = _named_curve(info["algorithm"]["parameters"])
        encoded = info["public_key"].native
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("the public key is not a well-formed SubjectPublicKeyInfo") from None
    if algorithm != _EC_PUBLIC_KEY_OID or curve != SM2_CURVE_OID:
        raise Unsupported(f"public key of algorithm {algorithm} (curve {curve}) is not a supported key type")
    return _point_from_encoded(encoded)


def sm2_keys_match(private_key: SM2PrivateKey, public_key: SM2PublicKey) -> bool:
    """Whether ``private_key`` belongs to ``public_key`` (a sign/verify probe). Raises Unsupported."""
    gm = _gmssl()
    # A signature made with d verifies only under d·G, so this proves the pair without the point
    # multiplication gmssl-pyx does not expose.
    probe = bytes(32)
    signature = gm.sm2_sign_sm3_digest(private_key._scalar, probe)
    return bool(gm.sm2_verify_sm3_digest(public_key.point, probe, signature))


def sm2_sign(
    private_key: SM2PrivateKey, data: bytes, distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID
) -> bytes:
    """The SM3withSM2 signature (DER ``SEQUENCE {r, s}``) of ``data``, Z_A over ``distinguishing_id``.

    What certificates, CRLs and OCSP responses carry (GM/T 0015 signs them with the default ID).
    Raises Unsupported without gmssl-pyx.
    """
    return bytes(
        _gmssl().sm2_sign(private_key._scalar, private_key.public_key().point, data, distinguishing_id)
    )


def sm2_verify(
    public_key: SM2PublicKey,
    data: bytes,
    signature: bytes,
    distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID,
) -> bool:
    """Whether ``signature`` is a canonical DER SM3withSM2 signature of ``data`` under ``public_key``.

    A malformed signature is False, never an error. Raises Unsupported without gmssl-pyx.
    """
    gm = _gmssl()
    if not _is_canonical_signature(signature):
        return False
    try:
        return bool(gm.sm2_verify(public_key.point, data, signature, distinguishing_id))
    except gm.GmsslInnerError:
        return False


def sm3_message_digest(
    public_key: SM2PublicKey, message: bytes, distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID
) -> bytes:
    """e = SM3(Z_A || M), what SM3withSM2 signs (GB/T 32918.2 §6.1); the DIGEST to send for SM3withSM2.

    Raises Unsupported without gmssl-pyx.
    """
    gm = _gmssl()
    entl = (len(distinguishing_id) * 8).to_bytes(2, "big")
    curve = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))
    z = gm.sm3_hash(entl + distinguishing_id + curve + public_key.point)
    return bytes(gm.sm3_hash(z + message))


def _unarmor(data: bytes, pem_label: str, what: str) -> bytes:
    if not pem.detect(data):
        return data
    try:
        blocks = list(pem.unarmor(data, multiple=True))
    except ValueError:
        raise InvalidInput(f"the {what} is not valid PEM") from None
    for label, headers, der in blocks:
        if label == "ENCRYPTED PRIVATE KEY" or "DEK-Info" in headers:
            raise InvalidInput(f"the {what} is encrypted; give it unencrypted")
        if label.endswith(pem_label):
            return bytes(der)
    raise InvalidInput(f"the PEM data holds no {pem_label} block for the {what}")


def _parse_pkcs8(der: bytes) -> keys.ECPrivateKey | None:
    try:
        info = keys.PrivateKeyInfo.load(der, strict=True)
        algorithm = info["private_key_algorithm"]["algorithm"].dotted
        curve = _named_curve(info["private_key_algorithm"]["parameters"])
        inner = keys.ECPrivateKey.load(info["private_key"].contents, strict=True)
    except (ValueError, TypeError, KeyError):
        return None
    if algorithm != _EC_PUBLIC_KEY_OID or curve != SM2_CURVE_OID:
        raise Unsupported(f"private key of algorithm {algorithm} (curve {curve}) is not a supported key type")
    return inner


def _parse_sec1(der: bytes) -> keys.ECPrivateKey | None:
    try:
        ec_key = keys.ECPrivateKey.load(der, strict=True)
        params = ec_key["parameters"]
        curve = None if isinstance(params, core.Void) else _named_curve(params)
        ec_key["private_key"].native  # noqa: B018 - forces the lazy parse so errors surface here
    except (ValueError, TypeError, KeyError):
        return None
    # SEC1 may omit the curve; without it we cannot know the key is SM2, so we refuse it.
    if curve != SM2_CURVE_OID:
        raise Unsupported(f"EC private key on curve {curve or '(not named)'} is not an SM2 key")
    return ec_key


def _named_curve(parameters: object) -> str:
    if not isinstance(parameters, keys.ECDomainParameters) or parameters.name != "named":
        return "(not a named curve)"
    return str(parameters.chosen.dotted)


def _point_from_encoded(encoded: bytes) -> SM2PublicKey:
    # SEC1 §2.3.3: 04 || x || y uncompressed, 02/03 || x compressed.
    if len(encoded) == 65 and encoded[0] == 4:
        return SM2PublicKey(encoded[1:])
    if len(encoded) == 33 and encoded[0] in (2, 3):
        x = int.from_bytes(encoded[1:], "big")
        # p ≡ 3 (mod 4) for the SM2 prime, so the square root is a single exponentiation.
        y = pow((x * x * x + _A * x + _B) % _P, (_P + 1) // 4, _P)
        if y % 2 != encoded[0] - 2:
            y = _P - y
        return SM2PublicKey(x.to_bytes(32, "big") + y.to_bytes(32, "big"))
    raise InvalidInput("the SM2 public key point is not a SEC1 point encoding")


# --- algorithms -------------------------------------------------------------------------------------


def _require_sm2(algorithm_name: str, key: object) -> None:
    if not isinstance(key, SM2PublicKey | SM2PrivateKey):
        # Imported here: keys imports this module for the SM2 value types.
        from certrepo.crypto.keys import algorithm_mismatch

        raise algorithm_mismatch(algorithm_name, "an SM2 key", key)


class Sm2Signature(KeyedSignature[SM2PrivateKey, SM2PublicKey]):
    """SM3withSM2 (GB/T 32918.2) with a distinguishing ID; DER signatures.

    DIGEST messages are e = SM3(Z_A || M) (see ``sm3_message_digest``), which OpenSSL's
    ``pkeyutl -sign`` without ``-rawin`` also takes.
    """

    digest_size: int | None = 32
    _private_key_type = SM2PrivateKey
    _public_key_type = SM2PublicKey

    def __init__(
        self, name: str = "SM3withSM2", distinguishing_id: bytes = DEFAULT_DISTINGUISHING_ID
    ) -> None:
        self.name = name
        self.distinguishing_id = distinguishing_id

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an SM2 key."""
        _require_sm2(self.name, public_key)

    def _sign(self, private_key: SM2PrivateKey, message: Message) -> bytes:
        if message.is_digest:
            check_digest_size(message, self.name, 32, "SM3")
            return bytes(_gmssl().sm2_sign_sm3_digest(private_key._scalar, message.data))
        return sm2_sign(private_key, message.data, self.distinguishing_id)

    def _verify(self, public_key: SM2PublicKey, message: Message, signature: bytes) -> bool:
        if not message.is_digest:
            return sm2_verify(public_key, message.data, signature, self.distinguishing_id)
        check_digest_size(message, self.name, 32, "SM3")
        gm = _gmssl()
        if not _is_canonical_signature(signature):
            return False
        try:
            return bool(gm.sm2_verify_sm3_digest(public_key.point, message.data, signature))
        except gm.GmsslInnerError:
            return False


def _is_canonical_signature(signature: bytes) -> bool:
    # GmSSL's parser is lenient; requiring the one DER encoding keeps signatures non-malleable.
    try:
        parsed = algos.DSASignature.load(signature, strict=True)
        r, s = parsed["r"].native, parsed["s"].native
        return bool(0 < r < _N and 0 < s < _N and parsed.dump(force=True) == signature)
    except (ValueError, TypeError):
        return False


class Sm2Encryption:
    """SM2PKE (GB/T 32918.4) with DER C1C3C2 ciphertexts, as OpenSSL and GmSSL produce them."""

    def __init__(self, name: str = "SM2PKE") -> None:
        self.name = name

    def check_key(self, public_key: object) -> None:
        """Raise AlgorithmMismatch unless ``public_key`` is an SM2 key."""
        _require_sm2(self.name, public_key)

    def max_plaintext_bytes(self, public_key: object) -> int:
        """The largest plaintext one call encrypts (255 B: the gmssl-pyx limit). Raises AlgorithmMismatch."""
        self.check_key(public_key)
        return SM2PKE_MAX_PLAINTEXT_BYTES

    def encrypt(self, public_key: object, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext``. Raises AlgorithmMismatch, InvalidInput (empty), MessageTooLarge, Unsupported."""
        limit = self.max_plaintext_bytes(public_key)
        assert isinstance(public_key, SM2PublicKey)
        if not plaintext:
            raise InvalidInput(f"{self.name} cannot encrypt an empty plaintext")
        if len(plaintext) > limit:
            raise MessageTooLarge(
                f"{self.name} encrypts at most {limit} bytes with an SM2 256-bit key here;"
                f" this plaintext has {len(plaintext)} bytes",
                details={"limit_bytes": limit, "size_bytes": len(plaintext)},
            )
        return bytes(_gmssl().sm2_encrypt(public_key.point, plaintext))

    def decrypt(self, private_key: object, ciphertext: bytes) -> bytes:
        """Decrypt ``ciphertext``. Raises AlgorithmMismatch, InvalidInput (undecryptable), Unsupported."""
        self.check_key(private_key)
        assert isinstance(private_key, SM2PrivateKey)
        gm = _gmssl()
        try:
            c2_size = len(_Sm2Ciphertext.load(ciphertext, strict=True)["ciphertext"].native)
        except (ValueError, TypeError):
            raise InvalidInput("ciphertext could not be decrypted with this key") from None
        if c2_size > SM2PKE_MAX_PLAINTEXT_BYTES:
            # The size is visible in the ciphertext itself: telling it is no oracle.
            raise Unsupported(
                f"{self.name} ciphertexts of more than {SM2PKE_MAX_PLAINTEXT_BYTES} plaintext bytes"
                " cannot be decrypted here"
            )
        try:
            return bytes(gm.sm2_decrypt(private_key._scalar, ciphertext))
        except gm.GmsslInnerError:
            raise InvalidInput("ciphertext could not be decrypted with this key") from None
