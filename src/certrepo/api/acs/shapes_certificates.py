"""Alibaba names and response shapes of certificates: ListCert rows, DescribeWarehouseCert, and the
SSL-certificate actions (reference §4.6-4.7, §5).

Handles. A repository certificate is named by its opaque ``identifier``. Alibaba's SSL-certificate API
names certificates by an integer ``CertId`` and by ``{CertId}-cn-hangzhou``: here ``CertId`` is the
certificate's row number, and any region suffix is accepted (certrepo has no regions; answers say
``cn-hangzhou``, as Alibaba's examples). CAs are not certificates of a repository, yet ListCert lists the
CA chain of a private repository and CreateWHClientCertificate names its issuer by a ListCert
identifier: a CA's identifier is ``ca-{id}`` (``id`` = the CA id of /v1/cas, = ``PcaInstanceId``).
Neither form can be confused with a certificate identifier (32 hex characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CertificateSource, CertificateStatus
from certrepo.domain.repository import Repository
from certrepo.pki.facts import CertificateFacts, certificate_facts
from certrepo.pki.load import load_certificates
from certrepo.services.cas import ca_certificate

from .params import to_ms

__all__ = [
    "REGION_ID",
    "WILL_EXPIRE_DAYS",
    "ca_describe_body",
    "ca_id_of",
    "ca_identifier",
    "ca_row",
    "cert_id_of",
    "certificate_describe_body",
    "certificate_row",
    "split_pem",
    "user_certificate_detail",
    "user_certificate_identifier",
    "user_certificate_order_row",
]

REGION_ID: Final = "cn-hangzhou"
# ListUserCertificateOrder's WILLEXPIRED: Alibaba's console warns 30 days ahead.
WILL_EXPIRE_DAYS: Final = 30
_CA_ID_RE: Final = re.compile(r"ca-([1-9][0-9]{0,17})")
_CERT_ID_RE: Final = re.compile(r"([1-9][0-9]{0,17})-[a-z]{2,}(?:-[a-z0-9]+)+")
_PEM_RE: Final = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.DOTALL)
_STATUS: Final = {CertificateStatus.ISSUED: "ISSUE", CertificateStatus.REVOKED: "REVOKE"}
_SOURCE: Final = {CertificateSource.UPLOAD: "upload", CertificateSource.ISSUED: "aliyun"}


# --- handles ----------------------------------------------------------------------------------------


def ca_identifier(ca_id: int) -> str:
    """The ListCert identifier of a CA."""
    return f"ca-{ca_id}"


def ca_id_of(identifier: str) -> int | None:
    """The CA id a ``ca-{id}`` identifier stands for, else None."""
    found = _CA_ID_RE.fullmatch(identifier.strip())
    return int(found.group(1)) if found else None


def user_certificate_identifier(number: int) -> str:
    """Alibaba's ``{CertId}-cn-hangzhou`` form of a certificate's CertId."""
    return f"{number}-{REGION_ID}"


def cert_id_of(identifier: str) -> int | None:
    """The CertId of a ``{CertId}-{region}`` identifier, else None."""
    found = _CERT_ID_RE.fullmatch(identifier.strip())
    return int(found.group(1)) if found else None


# --- small pieces -----------------------------------------------------------------------------------


def split_pem(text: str) -> list[str]:
    """The PEM blocks of a concatenation of certificates, each ending with a newline."""
    return [block if block.endswith("\n") else block + "\n" for block in _PEM_RE.findall(text)]


def _attributes(rfc4514: str) -> dict[x509.ObjectIdentifier, str]:
    try:
        name = x509.Name.from_rfc4514_string(rfc4514)
    except ValueError:
        return {}  # an attribute name the parser does not know: no subject details, not an error
    # Alibaba shows one value per field: the first of each kind, as people read a DN.
    found: dict[x509.ObjectIdentifier, str] = {}
    for attribute in reversed(list(name)):
        if isinstance(attribute.value, str):
            found.setdefault(attribute.oid, attribute.value)
    return found


def _label(rfc4514: str) -> str:
    """How Alibaba shows an issuer: its common name, else its organisation, else the whole name."""
    attributes = _attributes(rfc4514)
    return attributes.get(NameOID.COMMON_NAME) or attributes.get(NameOID.ORGANIZATION_NAME) or rfc4514


def _family(key_algorithm: str) -> str:
    # RSA_2048 -> RSA, ECC_256 -> ECC, SM2_256 -> SM2 (ListCert's vocabulary); ED25519 stays.
    return key_algorithm.split("_")[0]


def _sans(values: Sequence[str]) -> str:
    return ",".join(values)


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def _cert_type(is_ca: bool) -> str:
    return "CA" if is_ca else "CERT"


def _content(certificate: Certificate) -> str:
    return certificate.pem + certificate.chain_pem


# --- ListCert and DescribeWarehouseCert -------------------------------------------------------------


def certificate_row(c: Certificate, repository: Repository) -> dict[str, object]:
    """One ListCert row (reference §4.6) plus certrepo's fields (CertId, Name, CustomIdentifier)."""
    return {
        "Identifier": c.identifier,
        "WhId": repository.id,
        "WhInstanceId": repository.instance_id,
        "CommonName": c.common_name or "",
        "Sans": _sans([san.value for san in c.sans]),
        "Issuer": _label(c.issuer),
        "SerialNo": c.serial_number,
        "Algorithm": _family(c.key_algorithm),
        "SignAlgorithm": c.signature_algorithm,
        "CertType": _cert_type(c.is_ca),
        "SourceType": _SOURCE[c.source],
        "Status": _STATUS[c.status],
        "ExistPrivateKey": c.has_private_key,
        "BeforeDate": to_ms(c.not_before),
        "AfterDate": to_ms(c.not_after),
        # certrepo extensions (the SDK ignores unknown keys)
        "CertId": c.number,
        "Name": c.name or "",
        "CustomIdentifier": c.custom_identifier or "",
    }


def _ca_facts(ca: CertificateAuthority) -> CertificateFacts:
    return certificate_facts(ca_certificate(ca.certificate_pem))


def ca_row(ca: CertificateAuthority, repository: Repository) -> dict[str, object]:
    """The ListCert row of a CA of a private repository's chain (CertType CA, identifier ``ca-{id}``)."""
    facts = _ca_facts(ca)
    return {
        "Identifier": ca_identifier(ca.id),
        "WhId": repository.id,
        "WhInstanceId": repository.instance_id,
        "CommonName": facts.common_name or "",
        "Sans": _sans([value for _type, value in facts.sans]),
        "Issuer": _label(facts.issuer),
        "SerialNo": ca.serial_number,
        "Algorithm": _family(ca.key_algorithm),
        "SignAlgorithm": facts.signature_algorithm,
        "CertType": "CA",
        "SourceType": "upload" if ca.imported else "aliyun",
        "Status": "ISSUE",
        "ExistPrivateKey": ca.has_private_key,
        "BeforeDate": to_ms(ca.not_before),
        "AfterDate": to_ms(ca.not_after),
        "PcaInstanceId": str(ca.id),
        "CaType": ca.type.value,
    }


def certificate_describe_body(c: Certificate, repository: Repository) -> dict[str, object]:
    """DescribeWarehouseCert of a repository certificate (reference §4.7): Content is the PEM with its
    chain; IssuerIdentifier names the issuing CA (``ca-{id}``) of an issued certificate, the certificate
    itself when self-signed, else nothing (a third-party issuer is no certificate of the repository)."""
    if c.issuing_ca_id is not None:
        issuer_identifier = ca_identifier(c.issuing_ca_id)
    else:
        issuer_identifier = c.identifier if c.issuer == c.subject else ""
    return {
        "CertIdentifier": c.identifier,
        "CertStatus": c.status.value,
        "CertType": _cert_type(c.is_ca),
        "CommonName": c.common_name or "",
        "Content": _content(c),
        "Fingerprint": c.fingerprint_sha1,
        "Issuer": _label(c.issuer),
        "IssuerIdentifier": issuer_identifier,
        "PrivateCaInstanceId": str(c.issuing_ca_id) if c.issuing_ca_id is not None else "",
        "PrivateCaRegionId": REGION_ID if c.issuing_ca_id is not None else "",
        "WarehouseInstanceId": repository.instance_id,
        # certrepo extensions
        "WhId": repository.id,
        "CertId": c.number,
        "Name": c.name or "",
        "SerialNo": c.serial_number,
        "SourceType": _SOURCE[c.source],
        "ExistPrivateKey": c.has_private_key,
        "BeforeDate": to_ms(c.not_before),
        "AfterDate": to_ms(c.not_after),
    }


def ca_describe_body(
    chain: Sequence[CertificateAuthority], repository: Repository | None
) -> dict[str, object]:
    """DescribeWarehouseCert of a CA (``chain``: the CA first, its root last): Content is the CA with
    its issuers; a root is its own issuer."""
    ca = chain[0]
    facts = _ca_facts(ca)
    return {
        "CertIdentifier": ca_identifier(ca.id),
        "CertStatus": CertificateStatus.ISSUED.value,
        "CertType": "CA",
        "CommonName": facts.common_name or "",
        "Content": "".join(each.certificate_pem for each in chain),
        "Fingerprint": facts.fingerprint_sha1,
        "Issuer": _label(facts.issuer),
        "IssuerIdentifier": ca_identifier(ca.parent_id if ca.parent_id is not None else ca.id),
        "PrivateCaInstanceId": str(ca.id),
        "PrivateCaRegionId": REGION_ID,
        "WarehouseInstanceId": repository.instance_id if repository is not None else "",
        "WhId": repository.id if repository is not None else None,
        "SerialNo": ca.serial_number,
        "ExistPrivateKey": ca.has_private_key,
        "BeforeDate": to_ms(ca.not_before),
        "AfterDate": to_ms(ca.not_after),
    }


# --- SSL certificates (reference §5) ----------------------------------------------------------------


def _subject_fields(c: Certificate) -> dict[str, object]:
    subject = _attributes(c.subject)
    return {
        "OrgName": subject.get(NameOID.ORGANIZATION_NAME, ""),
        "Country": subject.get(NameOID.COUNTRY_NAME, ""),
        "Province": subject.get(NameOID.STATE_OR_PROVINCE_NAME, ""),
        "City": subject.get(NameOID.LOCALITY_NAME, ""),
    }


def _chain_entries(c: Certificate, now: datetime) -> list[dict[str, object]]:
    """GetUserCertificateDetail's CertChain: the certificate and its issuers, leaf first."""
    entries: list[dict[str, object]] = []
    for cert in load_certificates(_content(c)):
        facts = certificate_facts(cert)
        entries.append(
            {
                "CommonName": facts.common_name or "",
                "IssuerCommonName": facts.issuer_common_name or "",
                "NotBefore": to_ms(facts.not_before),
                "NotAfter": to_ms(facts.not_after),
                "RemainDay": max(0, (facts.not_after - now) // timedelta(days=1)),
            }
        )
    return entries


def user_certificate_detail(
    c: Certificate, *, now: datetime, with_content: bool, key_pem: str | None
) -> dict[str, object]:
    """GetUserCertificateDetail (reference §5). ``with_content`` is ``not CertFilter``: the PEM (with
    chain) and, when given, the private key."""
    assert c.number is not None
    body: dict[str, object] = {
        "Id": c.number,
        "CertIdentifier": user_certificate_identifier(c.number),
        "Name": c.name or c.common_name or "",
        "Common": c.common_name or "",
        "Sans": _sans([san.value for san in c.sans]),
        "Issuer": _label(c.issuer),
        "Algorithm": _family(c.key_algorithm),
        "SerialNo": c.serial_number,
        "Fingerprint": c.fingerprint_sha1,
        "Sha2": c.fingerprint_sha256,
        "CertSha2": c.fingerprint_sha256,
        "StartDate": _day(c.not_before),
        "EndDate": _day(c.not_after),
        "NotBefore": to_ms(c.not_before),
        "NotAfter": to_ms(c.not_after),
        "Expired": c.is_expired(now),
        "BuyInAliyun": False,
        "InstanceId": c.identifier,
        "ResourceGroupId": "",
        **_subject_fields(c),
        "CertChain": _chain_entries(c, now),
        "Tags": [{"TagKey": key, "TagValue": value} for key, value in c.tags.items()],
        # certrepo extensions
        "Identifier": c.identifier,
        "WhId": c.repository_id,
        "Status": c.status.value,
    }
    if with_content:
        body["Cert"] = _content(c)
        if key_pem is not None:
            body["Key"] = key_pem
    return body


def _order_status(c: Certificate, now: datetime) -> str:
    if c.status is CertificateStatus.REVOKED:
        return "REVOKED"
    if c.is_expired(now):
        return "EXPIRED"
    if c.not_after - now <= timedelta(days=WILL_EXPIRE_DAYS):
        return "WILLEXPIRED"
    return "ISSUED"


def user_certificate_order_row(c: Certificate, *, now: datetime) -> dict[str, object]:
    """One ListUserCertificateOrder row of OrderType CERT or UPLOAD (reference §5)."""
    return {
        "CertificateId": c.number,
        "Name": c.name or c.common_name or "",
        "CommonName": c.common_name or "",
        "Sans": _sans([san.value for san in c.sans]),
        "Issuer": _label(c.issuer),
        "SerialNo": c.serial_number,
        "Fingerprint": c.fingerprint_sha1,
        "Sha2": c.fingerprint_sha256,
        "StartDate": _day(c.not_before),
        "EndDate": _day(c.not_after),
        "Expired": c.is_expired(now),
        "Upload": c.source is CertificateSource.UPLOAD,
        "SourceType": _SOURCE[c.source],
        "Status": _order_status(c, now),
        "Algorithm": _family(c.key_algorithm),
        "InstanceId": c.identifier,
        "ResourceGroupId": "",
        **_subject_fields(c),
        "Identifier": c.identifier,
    }
