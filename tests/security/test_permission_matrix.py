"""Every REST route × every kind of caller -> the status SPEC §2.1/§4 promises (issue 8, item 7).

The table (tests/security/conftest.py ROWS) is written from SPEC, not from certrepo.domain.access; a route
the app serves without a row, and not excluded with a reason, fails the coverage test, so a new route
cannot escape the matrix. tests/api/rest/test_auth.py keeps the finer credential cases (each malformed
header, a key of a deleted user, role changes) on both databases."""

from __future__ import annotations

import pytest

from .conftest import (
    CALLERS,
    EXCLUDED,
    EXCLUDED_PREFIXES,
    REPOSITORY,
    ROWS,
    UNAUTHENTICATED,
    Arrange,
    Request,
    Row,
    SecurityEnv,
    app_operations,
    is_excluded,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

_AUTH_CODES = frozenset({"Unauthorized", "InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch"})

# (row, caller) -> why the code answers otherwise than SPEC says. Each is a bug to fix, kept strict so
# that the fix turns the case green and then this entry must go.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def expected_status(row: Row, caller: str) -> int:
    """What SPEC promises ``caller`` for ``row``."""
    if caller in UNAUTHENTICATED:
        return 401
    role = "signer" if caller == "signer_ungranted" else caller
    if role not in row.allowed:
        return 403
    if caller == "signer_ungranted" and row.scope == REPOSITORY:
        return 404  # a repository it was not granted is hidden, like another account's
    return row.success


def _cases() -> list[object]:
    cases: list[object] = []
    for row in ROWS:
        for caller in CALLERS:
            bug = KNOWN_BUGS.get((row.name, caller))
            marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug}")] if bug else []
            cases.append(pytest.param(row, caller, id=f"{row.name}-{caller}", marks=marks))
    return cases


@pytest.mark.parametrize(("row", "caller"), _cases())
async def test_each_caller_gets_what_spec_allows_on_each_route(
    security_env: SecurityEnv, row: Row, caller: str
) -> None:
    request = await row.request(Arrange(security_env, caller))
    async with security_env.client(caller) as client:
        response = await client.request(
            request.method, request.path, json=request.body, params=request.params
        )
    wanted = expected_status(row, caller)
    assert response.status_code == wanted, f"{request.method} {request.path}: {response.text[:500]}"
    if wanted >= 400:
        code = response.json()["code"]
        if wanted == 401:
            assert code in _AUTH_CODES
        elif wanted == 403:
            assert code == "Forbidden"
        else:
            assert code.startswith("NotFound")


async def test_every_route_of_the_app_has_a_row_or_a_stated_exclusion(security_env: SecurityEnv) -> None:
    served = app_operations(security_env.app)
    uncovered = sorted(op for op in served if not is_excluded(op) and op not in {r.operation for r in ROWS})
    assert uncovered == [], "give these routes rows in tests/security/conftest.py ROWS"


async def test_the_table_names_only_routes_the_app_serves(security_env: SecurityEnv) -> None:
    served = app_operations(security_env.app)
    stale = sorted({r.operation for r in ROWS} - served) + sorted(set(EXCLUDED) - served)
    assert stale == []
    for prefix in EXCLUDED_PREFIXES:
        assert any(path.startswith(prefix) for _, path in served), prefix


_SIGNER_ROWS = [r for r in ROWS if r.scope == REPOSITORY and "signer" in r.allowed]


@pytest.mark.parametrize("row", _SIGNER_ROWS, ids=lambda r: r.name)
async def test_a_signer_loses_a_route_the_moment_its_grant_goes(security_env: SecurityEnv, row: Row) -> None:
    """Granted, the signer gets the route (and the service has cached its key); without the grant, the
    next call answers as for a repository that does not exist."""
    env = security_env
    signer_id = await env.new_user("signer")
    key_id, secret = await env.new_key(signer_id)
    request = await row.request(Arrange(env, "signer"))
    repository_id = await _repository_of(env, request)
    await env.grant(signer_id, repository_id)
    async with env.client_with(f"Bearer {key_id}:{secret}") as client:
        granted = await client.request(request.method, request.path, json=request.body, params=request.params)
        removed = await env.admin.delete(f"/v1/users/{signer_id}/grants/{repository_id}")
        refused = await client.request(request.method, request.path, json=request.body, params=request.params)
    assert granted.status_code == row.success, granted.text
    assert removed.status_code == 204
    assert refused.status_code == 404 and refused.json()["code"].startswith("NotFound"), refused.text


async def _repository_of(env: SecurityEnv, request: Request) -> int:
    """The repository a request reaches: its path's, or its certificate's."""
    path, body = request.path, request.body or {}
    if path.startswith("/v1/repositories/"):
        return int(path.split("/")[3])
    identifier = path.split("/")[3] if path.startswith("/v1/certificates/") else body.get("identifier")
    if identifier is None:  # by custom identifier: only the seeded uploaded certificate has one
        return env.seeds.repositories["uploaded"]
    shown = await env.admin.get(f"/v1/certificates/{identifier}")
    assert shown.status_code == 200, shown.text
    return int(shown.json()["repository_id"])


async def test_public_routes_answer_without_credentials(security_env: SecurityEnv) -> None:
    """The exclusions are public indeed: no credentials, no 401."""
    ca_id = security_env.seeds.intermediate_ca_id
    async with security_env.client("no_credentials") as anonymous:
        for path in (
            "/healthz",
            "/readyz",
            "/metrics",
            f"/crl/{ca_id}.crl",
            f"/crl/{ca_id}.pem",
            "/openapi.json",
        ):
            response = await anonymous.get(path)
            assert response.status_code == 200, (path, response.text[:200])


async def test_the_console_sends_an_anonymous_visitor_to_sign_in(security_env: SecurityEnv) -> None:
    async with security_env.client("no_credentials") as anonymous:
        response = await anonymous.get("/console/repositories")
    assert response.status_code in (302, 303) and "/console/sign-in" in response.headers["location"]


async def test_a_bearer_key_does_not_open_the_console(security_env: SecurityEnv) -> None:
    """The console authenticates by session cookie only: an API key is no way around its CSRF check."""
    async with security_env.client("system_admin") as client:
        response = await client.get("/console/repositories")
    assert response.status_code in (302, 303)
