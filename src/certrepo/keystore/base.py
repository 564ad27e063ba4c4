"""What every keystore backend shares. The Protocol services use is ``services.ports.Keystore``;
backends implement it structurally (they do not import services)."""

from __future__ import annotations

from certrepo.domain.secrets import SealedSecret

__all__ = ["SealedSecret"]
