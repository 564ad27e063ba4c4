"""No private key is stored in plaintext: the database file (SQLite) and a pg_dump (PostgreSQL) are
searched for the key's bytes after an upload, an issuance-free sign and a master key rotation."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from tests.conftest import World
from tests.factories import key_pem, make_chain, pem
from tests.support.postgres import PostgresCluster, find_pg_bin

from certrepo.domain.enums import DataSource
from certrepo.domain.repository import Binding
from certrepo.services import certificates, keys, repositories


def _needles(key: object) -> list[bytes]:
    der = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secret_scalar = key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[attr-defined]
    return [der, base64.b64encode(der), secret_scalar, key_pem(key).encode()]  # type: ignore[arg-type]


async def _stored_bytes(world: World, request: pytest.FixtureRequest) -> bytes:
    url = world.settings.resolved_database_url
    await world.services.extras["engine"].dispose()  # type: ignore[attr-defined]
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    database = url.rsplit("/", 1)[1]
    dump = await asyncio.to_thread(
        subprocess.run,
        [str(bin_dir / "pg_dump"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", cluster.user, database],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


async def test_uploaded_private_keys_never_reach_the_database_in_plaintext(
    world: World, request: pytest.FixtureRequest
) -> None:
    chain = make_chain("Secret")
    repo = await repositories.create_repository(
        world.services, world.admin_call, name="k", binding=Binding(DataSource.UPLOADED)
    )
    assert repo.id is not None
    await certificates.upload_certificate(
        world.services,
        world.admin_call,
        repo.id,
        certificates.Upload(certificate=pem(chain.leaf), private_key=key_pem(chain.leaf_key), exportable=True),
    )
    await keys.rotate_master_key(world.services, world.services.keystore)  # type: ignore[arg-type]
    stored = await _stored_bytes(world, request)
    assert len(stored) > 10_000  # we really read the database
    assert pem(chain.leaf).split("\n")[1].encode() in stored  # the certificate itself is there, in clear
    for needle in _needles(chain.leaf_key):
        assert needle not in stored
