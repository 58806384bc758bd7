"""Talks to the control API of a running ``campus-sim serve``, for ``act`` and scenarios.

Going over HTTP even when the caller could import the campus keeps one path for everything that
drives the simulators from outside: a shell, a scenario file, another machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


class ControlError(Exception):
    """The control API could not be reached, or refused the request; the message says which."""


def control_url(value: str) -> str:
    """Accept ``http://host:port`` or a bare ``host:port``, as ``serve --control`` takes it."""
    value = value.strip().rstrip("/")
    return value if "://" in value else f"http://{value}"


class ControlClient:
    def __init__(self, url: str = DEFAULT_URL, timeout: float = 10.0) -> None:
        self.url = control_url(url)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def devices(self) -> list[dict[str, Any]]:
        answer = await self._request("GET", "/devices")
        devices: list[dict[str, Any]] = answer["devices"]
        return devices

    async def device(self, device_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/devices/{device_id}")

    async def act(self, device_id: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request("POST", f"/devices/{device_id}/{action}", json=dict(args))

    async def _request(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ControlError(
                f"cannot reach the simulator control API at {self.url} ({reason});"
                " is `campus-sim serve` running?"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ControlError(f"{method} {self.url}{path}: HTTP {response.status_code}, not JSON")
        if response.is_error:
            detail = body.get("error") or body.get("detail") or body
            raise ControlError(f"{detail} (HTTP {response.status_code})")
        return body

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
