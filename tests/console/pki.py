"""What the certificate tests of the console set up through the services: repositories, a private CA,
uploaded certificates. PKI material comes from tests/factories.py (EC keys: RSA generation is slow)."""

from __future__ import annotations

import itertools

from cryptography.hazmat.primitives import serialization

from certrepo.domain.ca import CertificateAuthority
from certrepo.domain.certificate import Certificate
from certrepo.domain.enums import CaType, DataSource, KeyAlgorithm
from certrepo.domain.repository import Binding
from certrepo.services.cas import CaSpec, create_ca
from certrepo.services.certificates import Upload, upload_certificate
from certrepo.services.repositories import create_repository
from tests.conftest import World
from tests.factories import Chain, key_pem, pem

__all__ = ["der", "new_repository", "private_ca", "private_repository", "unique", "upload_leaf"]

_names = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test of a shared world uses."""
    return f"{prefix}-{next(_names)}"


def der(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined, no-any-return]


async def new_repository(world: World, source: DataSource = DataSource.UPLOADED, **binding: int) -> int:
    created = await create_repository(
        world.services, world.admin_call, name=unique(source.value), binding=Binding(source, **binding)
    )
    assert created.id is not None
    return created.id


async def private_ca(
    world: World, *, days: int | None = None
) -> tuple[CertificateAuthority, CertificateAuthority]:
    """A new EC root and an intermediate under it."""
    root = await create_ca(
        world.services,
        world.admin_call,
        CaSpec(CaType.ROOT, unique("Console Root"), KeyAlgorithm.ECC_256),
    )
    intermediate = await create_ca(
        world.services,
        world.admin_call,
        CaSpec(CaType.INTERMEDIATE, unique("Console Issuing"), KeyAlgorithm.ECC_256, root.id, days),
    )
    return root, intermediate


async def private_repository(world: World) -> tuple[int, CertificateAuthority]:
    """A Private Certificates repository bound to a new intermediate."""
    _root, intermediate = await private_ca(world)
    return await new_repository(world, DataSource.PRIVATE, ca_id=intermediate.id), intermediate


async def upload_leaf(
    world: World, repository_id: int, chain: Chain, *, exportable: bool = False, name: str | None = None
) -> Certificate:
    """The chain's leaf with its key and issuers, through the service."""
    result = await upload_certificate(
        world.services,
        world.admin_call,
        repository_id,
        Upload(
            certificate=pem(chain.leaf),
            private_key=key_pem(chain.leaf_key),
            chain=pem(chain.intermediate) + pem(chain.root),
            exportable=exportable,
            name=name,
        ),
    )
    return result.certificates[0]
