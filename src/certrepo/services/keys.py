"""Master key rotation (SPEC §4): a new master version, then every data key rewrapped, online."""

from __future__ import annotations

from dataclasses import dataclass

from .context import Services
from .ports import MasterKeyRotation

__all__ = ["RotationReport", "rotate_master_key"]

_BATCH = 500


@dataclass(frozen=True)
class RotationReport:
    new_version: int
    rewrapped: int


async def rotate_master_key(services: Services, rotation: MasterKeyRotation) -> RotationReport:
    """Add a master version and rewrap each data key in small transactions, so a running service
    keeps working throughout (it reloads the key file when it meets the new version)."""
    version = rotation.add_master_version()
    rewrapped = 0
    while True:
        async with services.uow() as uow:
            ids = await uow.key_material.ids_not_at_version(version, limit=_BATCH)
            if not ids:
                break
            for secret_id in ids:
                sealed = await uow.key_material.get(secret_id)
                if sealed is not None:
                    await uow.key_material.replace(secret_id, services.keystore.rewrap(sealed))
                    rewrapped += 1
            await uow.commit()
    return RotationReport(version, rewrapped)
