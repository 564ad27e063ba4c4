"""/v1/users, /v1/access-keys, /v1/accounts: who may call."""

from __future__ import annotations

from fastapi import APIRouter, Response

from certrepo.services import accounts as service

from .deps import AccessKeyIdPath, CallDep, IdPath, ServicesDep
from .errors import error_responses
from .schemas import (
    AccessKeyCreate,
    AccessKeyCreated,
    AccessKeyOut,
    AccountCreate,
    AccountCreated,
    AccountOut,
    UserCreate,
    UserOut,
    UserUpdate,
)

router = APIRouter(tags=["users and access keys"])


@router.post("/v1/users", status_code=201, responses=error_responses(403, 409))
async def create_user(body: UserCreate, services: ServicesDep, call: CallDep) -> UserOut:
    """Add a user to the caller's account (admin)."""
    user = await service.create_user(services, call, name=body.name, role=body.role, password=body.password)
    return UserOut.of(user)


@router.get("/v1/users", responses=error_responses(403))
async def list_users(services: ServicesDep, call: CallDep) -> list[UserOut]:
    """Users of the caller's account (admin)."""
    return [UserOut.of(u) for u in await service.list_users(services, call)]


@router.patch("/v1/users/{user_id}", responses=error_responses(403, 404, 409))
async def update_user(user_id: IdPath, body: UserUpdate, services: ServicesDep, call: CallDep) -> UserOut:
    """Change a user's role or password (admin)."""
    user = await service.update_user(services, call, user_id, role=body.role, password=body.password)
    return UserOut.of(user)


@router.delete("/v1/users/{user_id}", status_code=204, responses=error_responses(403, 404, 409))
async def delete_user(user_id: IdPath, services: ServicesDep, call: CallDep) -> Response:
    """Delete a user and its access keys (admin)."""
    await service.delete_user(services, call, user_id)
    return Response(status_code=204)


@router.put(
    "/v1/users/{user_id}/grants/{repository_id}", status_code=204, responses=error_responses(403, 404)
)
async def grant(user_id: IdPath, repository_id: IdPath, services: ServicesDep, call: CallDep) -> Response:
    """Let a signer use the keys of a repository (admin)."""
    await service.grant_repository(services, call, user_id, repository_id)
    return Response(status_code=204)


@router.delete(
    "/v1/users/{user_id}/grants/{repository_id}", status_code=204, responses=error_responses(403, 404)
)
async def revoke_grant(
    user_id: IdPath, repository_id: IdPath, services: ServicesDep, call: CallDep
) -> Response:
    """Withdraw a signer's grant (admin)."""
    await service.revoke_grant(services, call, user_id, repository_id)
    return Response(status_code=204)


@router.post("/v1/access-keys", status_code=201, responses=error_responses(403, 404))
async def create_access_key(body: AccessKeyCreate, services: ServicesDep, call: CallDep) -> AccessKeyCreated:
    """A new access key; the secret is in this answer only."""
    created = await service.create_access_key(
        services, call, user_id=body.user_id, description=body.description
    )
    shown = AccessKeyOut.of(created.key, created.user_name)
    return AccessKeyCreated(**shown.model_dump(), secret=created.secret.reveal().decode())


@router.get("/v1/access-keys", responses=error_responses(403))
async def list_access_keys(services: ServicesDep, call: CallDep) -> list[AccessKeyOut]:
    """Own keys; every key of the account for an admin. Secrets are never listed."""
    return [AccessKeyOut.of(k, name) for k, name in await service.list_access_keys(services, call)]


@router.delete("/v1/access-keys/{access_key_id}", status_code=204, responses=error_responses(403, 404, 409))
async def revoke_access_key(access_key_id: AccessKeyIdPath, services: ServicesDep, call: CallDep) -> Response:
    """Revoke a key; its secret is destroyed."""
    await service.revoke_access_key(services, call, access_key_id)
    return Response(status_code=204)


@router.post("/v1/accounts", status_code=201, responses=error_responses(403, 409))
async def create_account(body: AccountCreate, services: ServicesDep, call: CallDep) -> AccountCreated:
    """A new tenant with its first admin (system admin only)."""
    created = await service.create_account(services, call, name=body.name, admin_name=body.admin_name)
    return AccountCreated(
        **AccountOut.of(created.account).model_dump(),
        admin_name=created.admin.name,
        admin_password=created.admin_password.reveal().decode(),
        access_key_id=created.access_key.key.id,
        access_key_secret=created.access_key.secret.reveal().decode(),
    )


@router.get("/v1/accounts", responses=error_responses(403))
async def list_accounts(services: ServicesDep, call: CallDep) -> list[AccountOut]:
    """Every account (system admin only)."""
    return [AccountOut.of(a) for a in await service.list_accounts(services, call)]
