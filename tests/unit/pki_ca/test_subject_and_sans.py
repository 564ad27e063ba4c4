from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from certrepo.domain.errors import InvalidInput
from certrepo.pki.issue import San, SubjectSpec, check_url, san_from_general_name, validate_sans

# --- subject ------------------------------------------------------------------------------------------


def test_subject_becomes_a_name_in_c_st_l_o_ou_cn_order() -> None:
    spec = SubjectSpec(
        common_name="app",
        organization="Example",
        organizational_unit="Ops",
        country="CN",
        state="Zhejiang",
        locality="Hangzhou",
    )

    assert spec.to_name().rfc4514_string() == "CN=app,OU=Ops,O=Example,L=Hangzhou,ST=Zhejiang,C=CN"


def test_subject_country_is_upper_cased() -> None:
    name = SubjectSpec(common_name="app", country="us").to_name()

    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "US"


@pytest.mark.parametrize(
    "country", ["USA", "U", "1A", "中国", ""], ids=["three", "one", "digit", "cjk", "empty"]
)
def test_a_country_that_is_not_two_letters_is_refused(country: str) -> None:
    with pytest.raises(InvalidInput, match="country"):
        SubjectSpec(common_name="app", country=country)


def test_an_empty_subject_is_refused() -> None:
    with pytest.raises(InvalidInput, match="the subject is empty"):
        SubjectSpec().to_name()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"common_name": "x" * 65}, "subject common name has 65 characters, at most 64"),
        ({"locality": "x" * 129}, "subject locality has 129 characters, at most 128"),
        ({"organization": "   "}, "subject organization is empty"),
        ({"common_name": "bad\nname"}, "subject common name contains a control character"),
    ],
    ids=["long cn", "long locality", "blank organization", "control character"],
)
def test_a_bad_subject_field_is_refused_by_name(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SubjectSpec(**fields)


def test_subject_keeps_unicode_text() -> None:
    name = SubjectSpec(common_name="张三", organization="示例公司").to_name()

    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三"


# --- SANs ---------------------------------------------------------------------------------------------

_VALID = [
    (San("dns", "example.com"), x509.DNSName("example.com")),
    (San("dns", "*.example.com"), x509.DNSName("*.example.com")),
    (San("dns", "xn--fiqs8s.example"), x509.DNSName("xn--fiqs8s.example")),
    (San("dns", "localhost"), x509.DNSName("localhost")),
    (San("dns", "a-1.B-2.example"), x509.DNSName("a-1.B-2.example")),
    (San("email", "first.last+tag@example.com"), x509.RFC822Name("first.last+tag@example.com")),
    (
        San("uri", "https://example.com/path?q=1"),
        x509.UniformResourceIdentifier("https://example.com/path?q=1"),
    ),
    (
        San("uri", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
        x509.UniformResourceIdentifier("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
    ),
    (
        San("uri", "spiffe://trust.example/ns/app"),
        x509.UniformResourceIdentifier("spiffe://trust.example/ns/app"),
    ),
    (San("ip", "10.1.2.3"), x509.IPAddress(ipaddress.ip_address("10.1.2.3"))),
    (San("ip", "2001:db8::1"), x509.IPAddress(ipaddress.ip_address("2001:db8::1"))),
]


@pytest.mark.parametrize(("san", "expected"), _VALID, ids=[f"{s.type} {s.value}" for s, _ in _VALID])
def test_a_valid_san_becomes_its_general_name(san: San, expected: x509.GeneralName) -> None:
    assert validate_sans([san]) == [expected]


_INVALID = [
    (San("dns", "not a host!"), r"SAN 1 \(type dns\): 'not a host!' is not a DNS name"),
    (San("dns", "-leading.example"), "is not a DNS name"),
    (San("dns", "trailing-.example"), "is not a DNS name"),
    (San("dns", "under_score.example"), "is not a DNS name"),
    (San("dns", "a..example"), "is not a DNS name"),
    (San("dns", "example.com."), "is not a DNS name"),
    (San("dns", "x" * 64 + ".example"), "is not a DNS name"),
    (San("dns", ".".join(["abcdefghi"] * 26)), "is not a DNS name"),
    (San("dns", "*"), "is not a DNS name"),
    (San("dns", "a.*.example"), "is not a DNS name"),
    (San("dns", "f*o.example"), "is not a DNS name"),
    (San("dns", "bücher.example"), "is not a DNS name"),
    (San("dns", "192.0.2.1"), "is an IP address, not a DNS name: use type ip"),
    (San("email", "no-at-sign.example"), "is not an email address"),
    (San("email", "two@@example.com"), "is not an email address"),
    (San("email", "a@*.example.com"), "is not an email address"),
    (San("email", "spaced name@example.com"), "is not an email address"),
    (San("email", "a@b@c.example"), "is not an email address"),
    (San("email", "x@"), "is not an email address"),
    (San("uri", "example.com/path"), "is not an absolute URI"),
    (San("uri", "1http://example.com"), "is not an absolute URI"),
    (San("uri", "https://exa mple.com"), "is not an absolute URI"),
    (San("uri", "https:"), "is not an absolute URI"),
    (San("uri", "https:///path"), "has an authority without a host"),
    (San("ip", "256.1.1.1"), "is not an IPv4 or IPv6 address"),
    (San("ip", "10.0.0.0/8"), "is not a single IP address"),
    (San("ip", "fe80::1%eth0"), "is not a single IP address"),
    (San("ip", "example.com"), "is not an IPv4 or IPv6 address"),
    (San("ip", "010.1.1.1"), "is not an IPv4 or IPv6 address"),
]


@pytest.mark.parametrize(("san", "message"), _INVALID, ids=[f"{s.type} {s.value[:30]}" for s, _ in _INVALID])
def test_a_san_of_the_wrong_syntax_for_its_type_is_refused(san: San, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_sans([san])


def test_the_error_names_the_position_and_type_of_the_bad_san() -> None:
    sans = [San("dns", "good.example"), San("ip", "not-an-ip")]

    with pytest.raises(
        InvalidInput, match=r"^SAN 2 \(type ip\): 'not-an-ip' is not an IPv4 or IPv6 address$"
    ):
        validate_sans(sans)


def test_an_unknown_san_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="SAN 1 has type 'upn': expected dns, email, uri or ip"):
        validate_sans([San("upn", "user@example.com")])


def test_an_empty_san_value_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"SAN 1 \(type dns\): the value is empty"):
        validate_sans([San("dns", "")])


def test_a_repeated_san_is_refused_naming_the_first() -> None:
    with pytest.raises(InvalidInput, match=r"SAN 3 \(type dns\): 'A.example' repeats SAN 1"):
        validate_sans([San("dns", "a.example"), San("ip", "10.0.0.1"), San("dns", "A.example")])


def test_a_huge_bad_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_sans([San("dns", "!" * 5000)])

    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    "name",
    [
        x509.DNSName("a.example"),
        x509.RFC822Name("a@example.com"),
        x509.UniformResourceIdentifier("https://a.example"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ],
    ids=["dns", "email", "uri", "ip"],
)
def test_a_general_name_round_trips_through_san(name: x509.GeneralName) -> None:
    san = san_from_general_name(name)

    assert san is not None
    assert validate_sans([san]) == [name]


def test_a_directory_name_has_no_san_form() -> None:
    name = x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))

    assert san_from_general_name(name) is None


@pytest.mark.parametrize(
    "url", ["ldap://example.com/cn=crl", "/crl/1.crl", "http://", "http://exa mple/x"], ids=str
)
def test_a_crl_or_ocsp_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(InvalidInput, match="CRL URL"):
        check_url("CRL URL", url)
