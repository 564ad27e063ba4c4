"""The per-process cache of principals and key-use targets follows changes made anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.conftest import World
from tests.factories import key_pem, make_chain, pem

from certrepo.app import build_services
from certrepo.domain.enums import DataSource
from certrepo.domain.errors import CertificateNotFound, InvalidAccessKey, RepositoryDisabled
from certrepo.domain.repository import Binding
from certrepo.services import accounts, auth, certificates, operations, repositories
from certrepo.services.context import Services
from certrepo.services.hotcache import hot_cache_of


@pytest.fixture
async def other_node(world: World) -> AsyncIterator[Services]:
    settings = world.settings.model_copy(update={"cache_staleness_seconds": 0.0})
    services, _ = build_services(settings)
    try:
        yield services
    finally:
        await services.extras["engine"].dispose()  # type: ignore[attr-defined]


async def test_a_key_revoked_on_one_node_stops_working_on_another(world: World, other_node: Services) -> None:
    created = await accounts.create_access_key(world.services, world.admin_call)
    secret = created.secret.reveal().decode()
    await auth.authenticate_bearer(other_node, created.key.id, secret)  # cached on the other node now
    await accounts.revoke_access_key(world.services, world.admin_call, created.key.id)
    with pytest.raises(InvalidAccessKey):
        await auth.authenticate_bearer(other_node, created.key.id, secret)


async def test_a_reset_on_one_node_disables_signing_on_another(world: World, other_node: Services) -> None:
    repo = await repositories.create_repository(
        world.services, world.admin_call, name="r", binding=Binding(DataSource.UPLOADED)
    )
    assert repo.id is not None
    chain = make_chain("Hot")
    uploaded = await certificates.upload_certificate(
        world.services,
        world.admin_call,
        repo.id,
        certificates.Upload(certificate=pem(chain.leaf), private_key=key_pem(chain.leaf_key)),
    )
    ref = operations.CertificateRef(identifier=uploaded.certificates[0].identifier)
    await operations.sign(other_node, world.admin_call, ref, algorithm="SHA256withECDSA", message="a", message_type="RAW")
    await repositories.reset_repository(world.services, world.admin_call, repo.id, acknowledge_risk=True)
    # The reset removed the certificate and disabled the repository: either answer refuses the use.
    with pytest.raises((RepositoryDisabled, CertificateNotFound)):
        await operations.sign(other_node, world.admin_call, ref, algorithm="SHA256withECDSA", message="a", message_type="RAW")


async def test_a_local_mutation_clears_the_cache_at_once(world: World) -> None:
    cache = hot_cache_of(world.services)
    assert cache is not None
    key = world.admin.access_key
    repo = await repositories.create_repository(
        world.services, world.admin_call, name="x", binding=Binding(DataSource.UPLOADED)
    )
    await auth.authenticate_bearer(world.services, key.key.id, key.secret.reveal().decode())
    assert cache.principals.get(key.key.id) is not None  # creating a repository kept the cache
    assert repo.id is not None
    await repositories.rename_repository(world.services, world.admin_call, repo.id, "y")
    assert cache.principals.get(key.key.id) is None
