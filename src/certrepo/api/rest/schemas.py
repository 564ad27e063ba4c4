"""Wire shapes of the REST API (SPEC §2.1). Converters from domain objects live beside each shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from certrepo.domain.accounts import AccessKey, Account, User
from certrepo.domain.audit import AuditEvent
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import DataSource, RepositoryStatus, Role
from certrepo.domain.paging import PageOf
from certrepo.domain.repository import Repository

T = TypeVar("T")


# Free text that reaches the database: PostgreSQL refuses NUL in text, and control characters in names
# make them lie about themselves.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str = Field(examples=["RepositoryNotReset"])
    message: str
    request_id: str
    details: dict[str, Any] | None = None


class ListOf(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, page: PageOf[Any], items: list[T]) -> ListOf[T]:
        return cls(items=items, total=page.total, page=page.page.number, page_size=page.page.size)


# --- repositories -----------------------------------------------------------------------------------


class RepositoryOut(BaseModel):
    id: int
    instance_id: str
    name: str
    data_source: DataSource | None
    status: RepositoryStatus
    qps: int
    ca_id: int | None
    trust_repository_id: int | None
    certificate_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Repository) -> RepositoryOut:
        assert r.id is not None
        return cls(
            id=r.id,
            instance_id=r.instance_id,
            name=r.name,
            data_source=r.data_source,
            status=r.status,
            qps=r.qps,
            ca_id=r.ca_id,
            trust_repository_id=r.trust_repository_id,
            certificate_count=r.certificate_count,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class RepositoryCreate(Strict):
    name: str | None = Field(None, max_length=1024, description="1-64 characters after trimming")
    data_source: DataSource
    # strict: JSON true or "7" is not a number here (lax parsing would read them as 1 and 7)
    ca_id: int | None = Field(None, ge=1, le=2**62, strict=True)
    trust_repository_id: int | None = Field(None, ge=1, le=2**62, strict=True)
    qps: int | None = Field(None, ge=1, le=1_000_000, strict=True)


class RepositoryRename(Strict):
    name: str = Field(max_length=1024)


class RepositoryReset(Strict):
    acknowledge_risk: bool = Field(
        False,
        description="must be true: reset removes every certificate and destroys their keys",
        strict=True,  # JSON true only: "yes" or 1 do not acknowledge an irreversible reset
    )


class RepositoryEnable(Strict):
    data_source: DataSource
    ca_id: int | None = Field(None, ge=1, le=2**62, strict=True)
    trust_repository_id: int | None = Field(None, ge=1, le=2**62, strict=True)


# --- users, access keys, accounts -------------------------------------------------------------------


class UserOut(BaseModel):
    id: int
    name: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(id=u.id, name=u.name, role=u.role, created_at=u.created_at)


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str | None = Field(None, min_length=12, max_length=256)


class UserUpdate(Strict):
    role: Role | None = None
    password: str | None = Field(None, min_length=12, max_length=256)


class AccessKeyOut(BaseModel):
    id: str
    user_name: str
    description: str | None
    created_at: datetime
    revoked_at: datetime | None
    status: Literal["active", "revoked"]

    @classmethod
    def of(cls, key: AccessKey, user_name: str) -> AccessKeyOut:
        return cls(
            id=key.id,
            user_name=user_name,
            description=key.description,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            status="active" if key.is_active else "revoked",
        )


class AccessKeyCreated(AccessKeyOut):
    secret: str = Field(description="shown once; store it now")


class AccessKeyCreate(Strict):
    user_id: int | None = Field(
        None, ge=1, le=2**62, strict=True, description="admin only: a key for another user"
    )
    description: str | None = Field(None, max_length=128, pattern=NO_CONTROL_CHARACTERS)


class AccountOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(id=a.id, name=a.name, created_at=a.created_at)


class AccountCreate(Strict):
    name: str = Field(min_length=1, max_length=128, pattern=NO_CONTROL_CHARACTERS)
    admin_name: str = Field(min_length=1, max_length=64)


class AccountCreated(AccountOut):
    admin_name: str
    admin_password: str
    access_key_id: str
    access_key_secret: str


# --- audit, quota -----------------------------------------------------------------------------------


class AuditEventOut(BaseModel):
    sequence: int
    at: datetime
    actor: str
    action: str
    outcome: str
    request_id: str | None
    repository_id: int | None
    certificate_id: str | None
    algorithm: str | None
    details: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        assert e.id is not None and e.hash is not None
        return cls(
            sequence=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            outcome=e.outcome,
            request_id=e.request_id,
            repository_id=e.repository_id,
            certificate_id=e.certificate_id,
            algorithm=e.algorithm,
            details=dict(e.details),
            hash=e.hash,
        )


class ChainReportOut(BaseModel):
    events: int | None = Field(description="events in the whole log (all accounts): system admin only")
    intact: bool
    first_broken_sequence: int | None
    reason: str | None


class PoolOut(BaseModel):
    total: int | None = Field(description="null = unlimited")
    used: int


class QuotaOut(BaseModel):
    app: PoolOut
    contract: PoolOut


class PoolIn(Strict):
    total: int | None = Field(ge=0, le=2**62, strict=True)  # false is not a total of 0


class QuotaIn(Strict):
    app: PoolIn | None = None
    contract: PoolIn | None = None


# --- certificates -----------------------------------------------------------------------------------


class SanOut(BaseModel):
    type: str
    value: str


class CertificateOut(BaseModel):
    identifier: str
    repository_id: int
    name: str | None
    custom_identifier: str | None
    common_name: str | None
    sans: list[SanOut]
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    key_size: int
    signature_algorithm: str
    fingerprint_sha1: str
    fingerprint_sha256: str
    is_ca: bool
    has_private_key: bool
    exportable: bool
    source: str
    status: str
    expired: bool
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    pem: str | None = None
    chain: list[str] | None = None
    warnings: list[str] | None = None

    @classmethod
    def of(
        cls, c: Certificate, *, now: datetime, include: frozenset[str] = frozenset(), warnings: tuple[str, ...] = ()
    ) -> CertificateOut:
        return cls(
            identifier=c.identifier,
            repository_id=c.repository_id,
            name=c.name,
            custom_identifier=c.custom_identifier,
            common_name=c.common_name,
            sans=[SanOut(type=s.type, value=s.value) for s in c.sans],
            subject=c.subject,
            issuer=c.issuer,
            serial_number=c.serial_number,
            not_before=c.not_before,
            not_after=c.not_after,
            key_algorithm=c.key_algorithm,
            key_size=c.key_size,
            signature_algorithm=c.signature_algorithm,
            fingerprint_sha1=c.fingerprint_sha1,
            fingerprint_sha256=c.fingerprint_sha256,
            is_ca=c.is_ca,
            has_private_key=c.has_private_key,
            exportable=c.exportable,
            source=c.source.value,
            status=c.status.value,
            expired=c.is_expired(now),
            revoked_at=c.revoked_at,
            revocation_reason=c.revocation_reason.value if c.revocation_reason else None,
            tags=dict(c.tags),
            created_at=c.created_at,
            pem=c.pem if "pem" in include else None,
            chain=split_pem(c.chain_pem) if "chain" in include else None,
            warnings=list(warnings) or None,
        )


def split_pem(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [block.strip() + "\n" + end + "\n" for block in text.split(end) if block.strip()]


class CertificateUpload(Strict):
    certificate: str = Field(max_length=200_000, description="PEM (one or many blocks), base64 DER or base64 PKCS#12")
    private_key: str | None = Field(None, max_length=200_000, description="PEM or base64 DER; PKCS#1, SEC1, PKCS#8")
    chain: str | None = Field(None, max_length=200_000, description="PEM blocks of the issuers, any order")
    password: str | None = Field(None, max_length=1024, description="of the PKCS#12 file or the encrypted key")
    name: str | None = Field(None, max_length=128)
    custom_identifier: str | None = Field(None, max_length=128)
    exportable: bool = False
    allow_expired: bool = Field(False, description="accept an expired end-entity certificate (flagged)")
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


class CertificateUploaded(BaseModel):
    items: list[CertificateOut]


class CertificateBatchUpload(Strict):
    # Each item is checked against CertificateUpload on its own (api/rest/certificates.py): an item that does
    # not fit gets the 400 its single upload would get, and the others go on.
    items: list[Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/CertificateUpload"})]] = Field(
        min_length=1, description="the bodies of single uploads; at most 100 (more: 413)"
    )


class CertificateBatchItemOut(BaseModel):
    status: int = Field(description="what the single upload of this item answers: 201, or the error's status")
    certificates: list[CertificateOut] | None = Field(default=None, description="201: what was stored (its items)")
    # The error body exactly as the single upload sends it (``details`` only when there are some).
    error: Annotated[
        dict[str, Any] | None,
        WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/ErrorBody"}, {"type": "null"}]}),
    ] = Field(default=None, description="otherwise: the single upload's error body")


class CertificateBatchUploaded(BaseModel):
    items: list[CertificateBatchItemOut] = Field(description="one per item sent, in the same order")


class KeyExportIn(Strict):
    format: Literal["pkcs8", "pkcs12"] = "pkcs8"
    password: str | None = Field(None, min_length=8, max_length=1024)


class KeyExportOut(BaseModel):
    format: str
    private_key: str = Field(description="PEM (pkcs8) or base64 (pkcs12)")


class VerifyChainIn(Strict):
    certificate: str = Field(max_length=200_000)
    intermediates: str | None = Field(None, max_length=200_000)
    time: datetime | None = None
    hostname: str | None = Field(None, max_length=253)
    usage: Literal["server", "client", "any"] = "any"


class VerifyChainOut(BaseModel):
    valid: bool
    chain: list[str] | None = None
    errors: list[str] | None = None


# --- key use ----------------------------------------------------------------------------------------


class _KeyUse(Strict):
    identifier: str | None = Field(None, max_length=128)
    custom_identifier: str | None = Field(None, max_length=128)
    algorithm: str = Field(max_length=64, examples=["SHA256withRSA"])


class SignIn(_KeyUse):
    message: str = Field(max_length=1_000_000, description="RAW: UTF-8 text (< 4 KiB); BASE64: bytes; DIGEST: hash")
    message_type: str = Field("RAW", max_length=16)
    distinguishing_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="SM3withSM2 only: the signer's distinguishing ID (GB/T 32918.2); default 1234567812345678",
    )


class SignOut(BaseModel):
    signature: str = Field(description="base64; ECDSA signatures are DER")


class VerifyIn(SignIn):
    signature: str = Field(max_length=100_000)


class VerifyOut(BaseModel):
    valid: bool


class EncryptIn(_KeyUse):
    plaintext: str = Field(max_length=100_000)
    message_type: str = Field("RAW", max_length=16, description="RAW (UTF-8 text) or BASE64")


class EncryptOut(BaseModel):
    ciphertext: str


class DecryptIn(_KeyUse):
    ciphertext: str = Field(max_length=100_000)
    message_type: str = Field("BASE64", max_length=16, description="how to return the plaintext: BASE64 or RAW")


class DecryptOut(BaseModel):
    plaintext: str


# --- CAs, issuance, revocation (SPEC §1.2) ------------------------------------------------------------
# Appended below the other shapes, hence the late imports.

from certrepo.domain.ca import CertificateAuthority, IssuedRecord, crl_url_of, ocsp_url_of
from certrepo.domain.enums import CaType, IssueUsage, KeyAlgorithm, RevocationReason


class CaOut(BaseModel):
    id: int
    type: CaType
    imported: bool
    common_name: str | None
    key_algorithm: str
    certificate: str = Field(description="PEM")
    parent_id: int | None
    bound_repository_id: int | None
    serial_number: str
    not_before: datetime
    not_after: datetime
    has_private_key: bool = Field(description="false for an imported issuer that anchors a chain only")
    crl_url: str | None = Field(description="where this CA publishes its CRL (DER; .pem beside it)")
    ocsp_url: str | None = Field(description="this CA's OCSP responder")
    created_at: datetime

    @classmethod
    def of(cls, ca: CertificateAuthority, *, base_url: str) -> CaOut:
        return cls(
            id=ca.id,
            type=ca.type,
            imported=ca.imported,
            common_name=ca.common_name,
            key_algorithm=ca.key_algorithm,
            certificate=ca.certificate_pem,
            parent_id=ca.parent_id,
            bound_repository_id=ca.bound_repository_id,
            serial_number=ca.serial_number,
            not_before=ca.not_before,
            not_after=ca.not_after,
            has_private_key=ca.has_private_key,
            crl_url=crl_url_of(base_url, ca.id) if ca.has_private_key else None,
            ocsp_url=ocsp_url_of(base_url, ca.id) if ca.has_private_key else None,
            created_at=ca.created_at,
        )


class CaCreate(Strict):
    type: Literal["root", "intermediate"]
    common_name: str = Field(max_length=256)
    key_algorithm: KeyAlgorithm
    parent_id: int | None = Field(None, ge=1, le=2**62, description="intermediate: the CA that signs it")
    days: int | None = Field(None, ge=1, le=36500, description="default 3650 (root), 1825 (intermediate)")
    path_len: int | None = Field(None, ge=0, le=16, description="default unlimited (root), 0 (intermediate)")
    organization: str | None = Field(None, max_length=256)
    country: str | None = Field(None, max_length=8, description="ISO 3166 two-letter code")


class CaImportIn(Strict):
    type: Literal["imported"]
    certificate: str = Field(max_length=200_000, description="PEM, base64 DER or base64 PKCS#12")
    private_key: str | None = Field(None, max_length=200_000, description="PEM or base64 DER")
    chain: str | None = Field(None, max_length=200_000, description="the issuers up to a root, PEM, any order")
    password: str | None = Field(None, max_length=1024, description="of the PKCS#12 file or the encrypted key")


CaIn = Annotated[CaCreate | CaImportIn, Field(discriminator="type")]


class SanIn(Strict):
    type: str = Field(max_length=16, description="dns, email, uri or ip")
    value: str = Field(max_length=4096)


class IssueIn(Strict):
    csr: str | None = Field(None, max_length=100_000, description="PEM or base64 DER PKCS#10")
    key_algorithm: KeyAlgorithm | None = Field(None, description="generated key; default: the CA's algorithm")
    common_name: str | None = Field(None, max_length=256)
    organization: str | None = Field(None, max_length=256)
    organizational_unit: str | None = Field(None, max_length=256)
    country: str | None = Field(None, max_length=8)
    state: str | None = Field(None, max_length=256)
    locality: str | None = Field(None, max_length=256)
    sans: list[SanIn] = Field(default_factory=list, max_length=1000)
    days: int | None = Field(None, description="1-3650, default 365; or not_before + not_after")
    not_before: datetime | None = None
    not_after: datetime | None = None
    usage: IssueUsage
    exportable: bool = Field(False, description="generated key: return it once now, and allow export later")
    name: str | None = Field(None, max_length=128)
    custom_identifier: str | None = Field(None, max_length=128)


class IssuedOut(CertificateOut):
    private_key: str | None = Field(None, description="PKCS#8 PEM of the generated key, shown once")


class RevokeIn(Strict):
    reason: RevocationReason | None = Field(None, description="RFC 5280 reason; default unspecified")


class SerialRevokeIn(RevokeIn):
    serial_number: str = Field(min_length=1, max_length=64, description="hexadecimal")


class RevokedSerialOut(BaseModel):
    ca_id: int
    serial_number: str
    certificate_identifier: str | None
    revoked_at: datetime | None
    reason: RevocationReason | None

    @classmethod
    def of(cls, record: IssuedRecord) -> RevokedSerialOut:
        return cls(
            ca_id=record.ca_id,
            serial_number=record.serial_number,
            certificate_identifier=record.certificate_identifier,
            revoked_at=record.revoked_at,
            reason=record.revocation_reason,
        )
