"""The guard-room console: a web board served by the gateway (FastAPI on uvicorn, in the
gateway's own event loop).

The console only reads what the gateway knows and acts through the command router; it never
stands in the way of an alarm. It listens on its own address (the guard-room network, with
sessions and TLS), apart from any device-facing HTTP, so that devices and guards never share a
server, a port or a way of authenticating. If it cannot start (its port is taken, its
certificate unreadable), the gateway logs why and goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn

from gateway.console.bodies import DEADLINE as BODY_DEADLINE
from gateway.console.feed import LiveFeed
from gateway.console.operators import ConsoleOperators
from gateway.console.web import ConsoleParts, build_app
from gateway.kernel.http import guarded_http

__all__ = ["Console", "ConsoleOperators", "ConsoleParts", "LiveFeed"]

log = logging.getLogger(__name__)

# what the kernel may hold for one browser: a few live-view frames, not the megabytes Linux
# would grow it to on a fast link (a slow browser then skips frames instead of seeing old ones)
SEND_BUFFER = 64 * 1024


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the gateway: the gateway, not uvicorn, handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Console:
    def __init__(self, parts: ConsoleParts) -> None:
        self.parts = parts
        config = parts.site.console
        self.url = (f"{'https' if config.tls else 'http'}://{config.listen.host}:"
                    f"{config.listen.port}/")
        tls = config.tls
        self.app = build_app(parts, secure=tls is not None)
        self._server = _EmbeddedServer(uvicorn.Config(
            self.app, host=config.listen.host, port=config.listen.port,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
            log_config=None, access_log=False, lifespan="off", server_header=False,
            timeout_graceful_shutdown=2, timeout_keep_alive=30,
            # one address holds at most 16 connections, and a request not all arrived in time
            # is a 408, so a slow or hung client cannot keep the guards from the console; a
            # trickled body meets the console's own deadline (bodies.BodyLimits) first
            http=guarded_http("console", BODY_DEADLINE + 5, unlimited=config.trusted_proxies,
                              send_buffer=SEND_BUFFER),
            # uvicorn believes X-Forwarded-For from loopback by default: only named proxies here
            proxy_headers=bool(config.trusted_proxies),
            forwarded_allow_ips=[str(n) for n in config.trusted_proxies]))

    async def run(self) -> None:
        serving = asyncio.create_task(self._serve(), name="console server")
        standing = asyncio.create_task(self.app.state.standing.run(self.parts.feed),
                                       name="console status strip")
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            self._server.should_exit = True
            self.parts.feed.close()
            if self.parts.live is not None:
                self.parts.live.close()  # live views end too: the server need not wait on them
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(serving, 5)
            raise
        finally:
            standing.cancel()

    async def _serve(self) -> None:
        server = self._server
        # started again by the supervisor: a server told to exit before would return at once
        server.should_exit = server.force_exit = False
        try:
            log.info("console at %s", self.url)
            await server.serve()
        except (Exception, SystemExit) as exc:  # uvicorn exits when it cannot bind
            for listening in getattr(server, "servers", []):  # free the port for the restart
                listening.close()
            log.error("the console at %s could not start (%s); the gateway goes on without "
                      "it", self.url, exc or type(exc).__name__)
