"""The CLI's HTTP client of the REST API, and where it finds its credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ApiError", "Client", "ClientConfig", "load_client_config", "write_client_config"]


@dataclass(frozen=True)
class ClientConfig:
    url: str
    access_key_id: str
    access_key_secret: str

    def __repr__(self) -> str:
        return f"ClientConfig(url={self.url!r}, access_key_id={self.access_key_id!r})"


def write_client_config(path: Path, config: ClientConfig) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {"url": config.url, "access_key_id": config.access_key_id, "access_key_secret": config.access_key_secret},
            handle,
            indent=1,
        )


def load_client_config(data_dir: Path | None) -> ClientConfig:
    """CERTREPO_URL / CERTREPO_ACCESS_KEY_ID / CERTREPO_ACCESS_KEY_SECRET, else the data dir's client.json."""
    env = os.environ
    file_values: dict[str, str] = {}
    candidate = (data_dir or Path(env.get("CERTREPO_DATA_DIR", "./data"))) / "client.json"
    if candidate.exists():
        file_values = json.loads(candidate.read_text())
    url = env.get("CERTREPO_URL") or file_values.get("url") or "http://127.0.0.1:8080"
    key_id = env.get("CERTREPO_ACCESS_KEY_ID") or file_values.get("access_key_id")
    secret = env.get("CERTREPO_ACCESS_KEY_SECRET") or file_values.get("access_key_secret")
    if not key_id or not secret:
        raise ApiError(
            0,
            "NoCredentials",
            "no access key: set CERTREPO_ACCESS_KEY_ID and CERTREPO_ACCESS_KEY_SECRET, or run `certrepo init`",
        )
    return ClientConfig(url.rstrip("/"), key_id, secret)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


class Client:
    """Thin: one method per HTTP verb, errors turned into ApiError with the server's code and message."""

    def __init__(self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(
            base_url=config.url,
            headers={"Authorization": f"Bearer {config.access_key_id}:{config.access_key_secret}"},
            timeout=60,
            transport=transport,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, "ConnectionFailed", f"cannot reach the server: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code,
                body.get("code", f"HTTP{response.status_code}"),
                body.get("message", response.text[:200]),
                body.get("request_id"),
            )
        if response.status_code == 204 or not response.content:
            return None
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body or {})

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body)

    def put(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("PUT", path, json=body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
