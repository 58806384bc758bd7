"""HTTP control API of a running simulated campus: look at devices and make things happen.

``GET /devices``, ``GET /devices/{id}`` and ``POST /devices/{id}/{action}`` with a JSON object of
arguments. Every answer is JSON; failures are ``{"ok": false, "error": "..."}`` with 404 for an
unknown device or action and 422 for arguments that do not fit (an unknown point, a wrong type),
so a scenario or a shell script can tell a typo from a broken simulator.

It runs inside the simulators' event loop (uvicorn's ``Server.serve``), so an action changes the
Modbus data store directly, with no threads and no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulators.campus import SimulatedCampus
from simulators.control_client import DEFAULT_HOST, DEFAULT_PORT
from simulators.simulator import InvalidArguments, SimulatorError, StartError


def create_app(campus: SimulatedCampus) -> FastAPI:
    app = FastAPI(title="campus-sim control", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(SimulatorError)
    async def _refused(request: Request, exc: SimulatorError) -> JSONResponse:
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=exc.status)

    @app.get("/devices")
    async def list_devices() -> dict[str, Any]:
        return {"site": campus.site.site.id, "devices": await campus.states()}

    @app.get("/devices/{device_id}")
    async def get_device(device_id: str) -> dict[str, Any]:
        return await campus.state(device_id)

    @app.post("/devices/{device_id}/{action}")
    async def act(device_id: str, action: str, request: Request) -> dict[str, Any]:
        campus.device(device_id)
        args = _json_object(await request.body(), f"{device_id} {action}")
        state = await campus.act(device_id, action, args)
        return {"ok": True, "device": device_id, "action": action, "state": state}

    return app


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise InvalidArguments(f"{what}: body is not JSON: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArguments(f"{what}: body must be a JSON object of arguments")
    return value


class _InLoopServer(uvicorn.Server):
    """Leaves SIGINT/SIGTERM to the program that owns the loop (``campus-sim serve``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ControlServer:
    """The control API on its own socket, started and stopped with the campus."""

    def __init__(self, campus: SimulatedCampus, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        self.host = host
        self.port = port
        config = uvicorn.Config(
            create_app(campus), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = _InLoopServer(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind first, so a busy port is our clear error rather than uvicorn's exit."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise StartError(f"control API: cannot listen on {self.url}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise StartError(f"control API on {self.url} stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
