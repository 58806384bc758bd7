"""Video beside the alarm: the console's cameras page, each alarm's pictures and cameras, and the
cameras' live views proxied by the gateway.

A live view is ``multipart/x-mixed-replace`` JPEG (what an ``<img>`` shows as it comes) sent by
the console's own server under the console's authorisation (a session, or an operator token as
for ``/media``): the browser never learns a camera's address, user or password. The pictures
come from ``gateway.media.LiveViews`` (one upstream per watched camera, one frame held per
viewer, capped viewers); a browser that goes away frees its place at once, and a stream whose
session ends (logout, ``operator disable``) ends with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.config import SiteConfig
from gateway.media import LiveRefused, MediaStore, StoredMedia, Viewer

if TYPE_CHECKING:
    from gateway.console.sessions import Session
    from gateway.console.web import ConsoleParts

BOUNDARY = "campus-live"
SESSION_CHECK = 5.0  # seconds between looks at a live view's session
PLAYABLE = ("video/webm", "video/mp4")  # clips a browser's <video> may play (WebM here)


class LiveResponse(StreamingResponse):
    """An MJPEG stream whose viewer is let go however the response ends (the browser gone, the
    session over, the server stopping), not whenever its generator happens to be collected."""

    def __init__(self, viewer: Viewer, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                         headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                  "X-Accel-Buffering": "no"})
        self.viewer = viewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.viewer.close()


def camera_ids(site: SiteConfig) -> list[str]:
    return [d.id for d in site.devices if d.driver == "onvif"]


def alarm_cameras(site: SiteConfig, alarm: Any | None, media: list[StoredMedia]) -> list[str]:
    """The cameras that see an alarm, most telling first: the alarm's own device if a camera,
    those that took its pictures, those its linkage rules drive, those in its zone."""
    cameras = camera_ids(site)
    found: list[str] = []
    if alarm is not None and alarm.device_id in cameras:
        found.append(alarm.device_id)
    found += [item.camera for item in media if item.camera in cameras]
    if alarm is not None:
        for rule in site.linkage:
            if alarm.condition in rule.when.conditions and (
                    not rule.when.zones or alarm.zone in rule.when.zones):
                found += [a.camera for a in rule.do if a.camera in cameras]
        found += [d.id for d in site.devices
                  if d.id in cameras and alarm.zone and getattr(d, "zone", None) == alarm.zone]
    return list(dict.fromkeys(found))


def add_video_routes(app: FastAPI, parts: ConsoleParts, *,
                     page: Callable[..., HTMLResponse], signed_in: Callable[..., Session],
                     session_of: Callable[[Request], Session | None],
                     operator_token: Callable[[Request], bool]) -> None:
    site = parts.site
    names = {d.id: d.name or d.id for d in site.devices}
    zones = {d.id: getattr(d, "zone", None) or "" for d in site.devices}

    def health(camera: str) -> dict[str, Any]:
        status = parts.live.health(camera) if parts.live is not None else {}
        return {"camera": camera, "name": names.get(camera, camera),
                "zone": zones.get(camera, ""), "online": parts.online.get(camera),
                **status}

    @app.get("/cameras", response_class=HTMLResponse)
    async def cameras_page(request: Request) -> HTMLResponse:
        session = signed_in(request)
        return page(request, "cameras.html", session,
                    cameras=[health(c) for c in camera_ids(site)])

    @app.get("/api/video/cameras")
    async def cameras_health(request: Request) -> JSONResponse:
        signed_in(request)
        return JSONResponse({"cameras": [health(c) for c in camera_ids(site)]})

    @app.get("/api/video/alarms/{alarm_id}")
    async def alarm_video(request: Request, alarm_id: str) -> JSONResponse:
        signed_in(request)
        try:
            alarm = parts.alarms.get(alarm_id)
        except Exception:  # closed or unknown: its stored pictures still say what was seen
            alarm = None
        media = _media_of(parts.media, alarm_id)
        return JSONResponse({
            "alarm_id": alarm_id,
            "snapshots": [_described(m) for m in media if m.kind == "snapshot"],
            "clips": [_described(m) for m in media if m.kind == "clip"],
            "cameras": [{"camera": c, "name": names.get(c, c)}
                        for c in alarm_cameras(site, alarm, media)]})

    @app.get("/video/live/{camera}")
    async def live(request: Request, camera: str) -> Response:
        token = operator_token(request)
        if session_of(request) is None and not token:
            raise HTTPException(401, "log in, or send Authorization: Bearer <operator token>",
                                headers={"WWW-Authenticate": "Bearer"})
        if parts.live is None:
            raise HTTPException(404, "no live views on this gateway")
        try:
            viewer = parts.live.watch(camera)
        except LiveRefused as refused:
            raise HTTPException(refused.status, str(refused),
                                headers={"Retry-After": "5"} if refused.status == 503
                                else None) from None
        return LiveResponse(viewer, _frames(request, viewer, session_of, token))


async def _frames(request: Request, viewer: Viewer,
                  session_of: Callable[[Request], Session | None],
                  token: bool) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    checked = loop.time()
    # each picture is followed at once by the next part's boundary and headers: Chromium shows
    # a part only once the next one has begun, so sending them with the next picture would
    # show every picture a frame late (measured: p50 465 -> 204 ms, bench/console_latency.py).
    # No Content-Length: the boundary delimits a part, and the next size is not known yet
    part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
    yield part
    while True:
        jpeg = await viewer.next_frame(SESSION_CHECK)
        if viewer.ended:
            return
        if not token and loop.time() - checked >= SESSION_CHECK:
            checked = loop.time()  # a session read is a database read: not one per frame
            if session_of(request) is None:
                return  # logged out, expired or disabled: the picture stops with the session
        if jpeg is None:
            continue  # no new picture yet (the camera is slow or gone): keep waiting
        yield jpeg + b"\r\n" + part


def _media_of(store: MediaStore | None, alarm_id: str) -> list[StoredMedia]:
    if store is None or len(alarm_id) > 128:
        return []
    return store.for_alarm(alarm_id)


def _described(item: StoredMedia) -> dict[str, Any]:
    return {"media_id": item.media_id, "camera": item.camera, "url": f"/media/{item.media_id}",
            "content_type": item.content_type, "captured_at": item.captured_at.isoformat(),
            "seconds": item.seconds, "playable": item.content_type in PLAYABLE}
