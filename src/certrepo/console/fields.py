"""Which form field an error belongs to, when the service does not say.

Services name the field in ``details.field`` where they can; errors from deeper down (loading PEM,
chain validation, subject checks) name it in their message instead ("private_key: PEM block 1: ...",
"SAN 2 (type dns): ...") or only through their code (KeyMismatch). A route declares the rules of its
form before calling the service; rendering.py reads them to put the message next to the field. The
rules of every console form live here, so this one file says where each error is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from certrepo.domain.errors import CertrepoError

__all__ = [
    "CA_CREATE_FIELDS",
    "CA_IMPORT_FIELDS",
    "EXPORT_FIELDS",
    "ISSUE_FIELDS",
    "REVOKE_FIELDS",
    "TRYOUT_FIELDS",
    "UPLOAD_FIELDS",
    "VERIFY_FIELDS",
    "FieldRules",
    "expect_fields",
    "fields_for_error",
]


@dataclass(frozen=True)
class FieldRules:
    """A form's rules: ``aliases`` rename a service's field to the form's; ``patterns`` (searched in the
    message, first match wins) and then ``codes`` place errors that name no field."""

    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    codes: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def field_of(self, error: CertrepoError) -> str | None:
        named = error.details.get("field")
        if isinstance(named, str):
            return self.aliases.get(named, named)
        for pattern, name in self.patterns:
            if pattern.search(error.message):
                return name
        return self.codes.get(error.code)


def _rules(
    patterns: list[tuple[str, str]],
    codes: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> FieldRules:
    compiled = tuple((re.compile(p, re.IGNORECASE), name) for p, name in patterns)
    return FieldRules(compiled, dict(codes or {}), dict(aliases or {}))


_STATE_KEY = "console_field_rules"

# A password is asked for by the loaders of keys and PKCS#12 files alike: first, so that "private_key:
# ... wrong password" lands next to the password.
_PASSWORD = (r"password", "password")
_KEY_AND_CHAIN = [
    (r"^certificate\b|^upload is|^no certificate", "certificate"),
    (r"^private_key\b|private key", "private_key"),
    (r"^chain\b", "chain"),
]

UPLOAD_FIELDS = _rules(
    [
        _PASSWORD,
        (r"rule 'private-key'", "private_key"),  # the compliant profile: "certificate X fails rule ..."
        *_KEY_AND_CHAIN,
        (r"^custom_identifier", "custom_identifier"),
    ],
    codes={
        "KeyMismatch": "private_key",
        "NoPrivateKey": "private_key",
        "ChainIncomplete": "certificate",
        "ChainInvalid": "certificate",
        "CertificateExpired": "certificate",
        "CertificateExists": "certificate",
        "MessageTooLarge": "certificate",
    },
)

ISSUE_FIELDS = _rules(
    [
        (r"^subject common name|^the subject is empty", "common_name"),
        (r"^subject organization", "organization"),
        (r"^subject country", "country"),
        (r"^SAN \d|SANs are allowed", "sans"),
        (r"\bCSR\b", "csr"),
    ],
    codes={"AlgorithmMismatch": "key_algorithm"},
)

VERIFY_FIELDS = _rules(
    [
        (r"^hostname", "hostname"),
        (r"^usage", "usage"),
        (r"^chain\b|^intermediates", "intermediates"),
        (r"^certificate\b|^no certificate", "certificate"),
    ],
)

TRYOUT_FIELDS = _rules(
    [(r"^message_type", "message_type"), (r"digest|RAW message", "message")],
    codes={
        "AlgorithmMismatch": "algorithm",
        "NoPrivateKey": "identifier",
        "CertificateRevoked": "identifier",
        "CertificateExpired": "identifier",
        "NotFound.Certificate": "identifier",
        "MessageTooLarge": "message",
    },
    aliases={"plaintext": "message", "ciphertext": "message", "custom_identifier": "identifier"},
)

CA_CREATE_FIELDS = _rules(
    [
        (r"^subject common name|^the subject is empty", "common_name"),
        (r"^subject organization", "organization"),
        (r"^subject country", "country"),
    ],
    codes={"NotFound.CA": "parent_id", "NoPrivateKey": "parent_id"},
)

CA_IMPORT_FIELDS = _rules(
    [_PASSWORD, *_KEY_AND_CHAIN],
    codes={
        "KeyMismatch": "private_key",
        "ChainIncomplete": "chain",
        "ChainInvalid": "certificate",
        "CertificateExpired": "certificate",
        "CertificateExists": "certificate",
        "MessageTooLarge": "certificate",
    },
)

REVOKE_FIELDS = _rules([], codes={"CertificateRevoked": "reason"})

EXPORT_FIELDS = _rules([_PASSWORD], codes={"NoPrivateKey": "format", "Forbidden": "format"})


def expect_fields(request: Request, rules: FieldRules) -> None:
    """Declare where the errors of the form being handled go (read when an error is rendered)."""
    setattr(request.state, _STATE_KEY, rules)


def fields_for_error(request: Request, error: CertrepoError) -> list[str]:
    """The fields an error may be shown next to, most specific first: the one the service or the
    form's rules name, then the keys of its details (``ca_id`` is also the name of a selector)."""
    rules = getattr(request.state, _STATE_KEY, None)
    named = error.details.get("field")
    if isinstance(rules, FieldRules):
        found = rules.field_of(error)
        fields = [found] if found else []
    else:
        fields = [named] if isinstance(named, str) else []
    return fields + [key for key in error.details if key != "field"]
