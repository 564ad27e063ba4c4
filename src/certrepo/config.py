"""Settings: the one place the environment is read (prefix ``CERTREPO_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every field can be set as ``CERTREPO_<NAME>``; defaults are the embedded mode."""

    model_config = SettingsConfigDict(env_prefix="CERTREPO_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(Path("./data"), description="directory of the SQLite database and master key")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite in data_dir; postgresql+psycopg://… for scale-out"
    )
    master_key_file: Path | None = Field(None, description="master key file; default data_dir/master.key")
    base_url: str = Field(
        "http://127.0.0.1:8080", description="public URL; CRL and OCSP URLs in issued certificates use it"
    )
    host: str = Field("127.0.0.1", description="listen address")
    port: int = Field(8080, ge=1, le=65535, description="listen port")
    workers: int = Field(1, ge=1, le=64, description="server worker processes")
    log_level: str = Field("info", description="debug, info, warning or error")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="largest request body accepted, in bytes")
    development: bool = Field(False, description="development mode: relaxes production-only checks")
    # Connection limits of `certrepo serve` (api/common/slow_clients.py; docs/deployment.md, "Limits").
    request_head_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="seconds a client has to send the request line and headers (from connecting, or from the "
        "first byte of the next request on a kept-alive connection); then 408 and the connection closes",
    )
    request_body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="seconds without a byte of a request body the service waits for; then the connection "
        "closes. Also the longest the rest of a body is drained after an early answer such as 413",
    )
    max_request_line_bytes: int = Field(
        256 * 1024,
        ge=8 * 1024,
        le=16 * 1024 * 1024,
        description="longest request line (method, path, query) in bytes; longer: 414. The Alibaba SDK "
        "sends certificates and keys in the query string",
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=4 * 1024, le=1024 * 1024, description="largest header block in bytes; larger: 431"
    )
    max_header_count: int = Field(
        100, ge=16, le=10_000, description="most header fields of a request; more: 431"
    )
    cache_staleness_seconds: float = Field(
        0.1,
        ge=0,
        le=10,
        description="seconds another node's change (revoked key, reset repository…) may take to apply here",
    )
    expiry_scan_interval_seconds: int = Field(
        3600,
        ge=0,
        le=7 * 86400,
        description="seconds between expiry scans inside `certrepo serve` (notices, metrics); 0 = no schedule",
    )

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'certrepo.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def client_config_file(self) -> Path:
        """Where `init` writes the CLI's URL and access key (mode 0600)."""
        return self.data_dir / "client.json"

    # Master key backend (SPEC §5, docs/hsm.md): "file" is master_key_file, "pkcs11" a token in an HSM.
    pkcs11_module: Path | None = Field(
        None, description="path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so"
    )
    pkcs11_token_label: str | None = Field(None, description="label of the token holding the master keys")
    pkcs11_pin: SecretStr | None = Field(None, description="user PIN of that token (a secret)")
    keystore: Literal["file", "pkcs11"] = Field("file", description="where master keys live: file or pkcs11")

    @field_validator("keystore")
    @classmethod
    def _pkcs11_complete(cls, value: str, info: ValidationInfo) -> str:
        # A field validator (declared after the pkcs11 fields), not a model one: pydantic would print the
        # whole input, PIN included, in the error.
        names = ("pkcs11_module", "pkcs11_token_label", "pkcs11_pin")
        missing = [f"CERTREPO_{name.upper()}" for name in names if info.data.get(name) is None]
        if value == "pkcs11" and missing:
            raise ValueError(f"CERTREPO_KEYSTORE=pkcs11 needs {', '.join(missing)}")
        return value
