"""Closed sets of the product. Values are the wire values of the REST API (SPEC §2.1)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CaType",
    "CertificateSource",
    "CertificateStatus",
    "DataSource",
    "IssueUsage",
    "KeyAlgorithm",
    "QuotaPool",
    "RepositoryStatus",
    "RevocationReason",
    "Role",
]


class DataSource(StrEnum):
    UPLOADED = "uploaded"
    UPLOADED_CA = "uploaded_ca"
    PRIVATE = "private"
    COMPLIANT = "compliant"


class RepositoryStatus(StrEnum):
    ENABLED = "enabled"
    RESET = "reset"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    SIGNER = "signer"
    AUDITOR = "auditor"


class CertificateSource(StrEnum):
    UPLOAD = "upload"
    ISSUED = "issued"


class CertificateStatus(StrEnum):
    ISSUED = "issued"
    REVOKED = "revoked"


class KeyAlgorithm(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_256 = "ECC_256"
    ECC_384 = "ECC_384"
    ECC_521 = "ECC_521"
    ED25519 = "ED25519"
    SM2_256 = "SM2_256"

    @property
    def family(self) -> str:
        """``RSA``, ``EC``, ``ED25519`` or ``SM2``: issuance requires the CA's family."""
        return self.value.split("_")[0].replace("ECC", "EC")


class CaType(StrEnum):
    ROOT = "root"
    INTERMEDIATE = "intermediate"


class IssueUsage(StrEnum):
    CLIENT = "client"
    SERVER = "server"
    DOCUMENT_SIGNING = "document_signing"


class QuotaPool(StrEnum):
    APP = "app"
    CONTRACT = "contract"


class RevocationReason(StrEnum):
    """RFC 5280 CRLReason names (value 7 is unused in the standard)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    REMOVE_FROM_CRL = "remove_from_crl"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"
