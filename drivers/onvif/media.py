"""Pictures from a camera: its snapshot URI over HTTP (Digest or Basic, as it asks), and its
stream on a grabber thread with a ring buffer for clips and the analytics on top
(``drivers.video``).

A snapshot for an alarm must be quick, so each camera keeps one HTTP client (its connection, its
authentication scheme and Digest challenge reused: one round trip per snapshot, not two). A
snapshot is streamed with a cap (``snapshot.max_bytes``): a Content-Length over it is refused
before the body is read, and a body without one is counted as it arrives and dropped at the
cap, so a camera sending gigabytes costs the gateway no more than the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Generator
from datetime import datetime

import cv2
import httpx
import numpy as np

from drivers.video import (
    FrameGrabber,
    FrameRing,
    GrabberConfig,
    RingConfig,
    StreamHealth,
    VideoAnalyser,
    VideoAnalyticsConfig,
    redact,
)
from drivers.video.capture import open_capture
from drivers.video.frames import AnalyticChange, Frame
from gateway.kernel.boundary import device_text

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
FRESH = 2.0  # seconds: a grabbed frame younger than this is "now"


class SnapshotFailed(Exception):
    pass


class ChallengeAuth(httpx.Auth):
    """Answers the challenge the camera sends, Digest (RFC 7616) or Basic (RFC 7617): cameras'
    snapshot CGIs use either. Once learnt, the scheme is used at once (Basic sent up front,
    Digest's challenge reused), so a snapshot costs one round trip."""

    def __init__(self, username: str, password: str) -> None:
        self._credentials = (username, password)
        self._digest = httpx.DigestAuth(username, password)
        self._basic = httpx.BasicAuth(username, password)
        self.scheme: str | None = None  # "digest" or "basic", once the camera challenged

    def forget(self) -> None:
        """Refused all the same: ask the camera again next time (it may have changed)."""
        self.scheme = None
        self._digest = httpx.DigestAuth(*self._credentials)  # its cached challenge goes too

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                                None]:
        if self.scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self.scheme == "basic":
            yield from self._basic.auth_flow(request)
            return
        response = yield request
        if response.status_code != 401:
            return
        offered = {header.strip().partition(" ")[0].lower()
                   for header in response.headers.get_list("www-authenticate")}
        if "digest" in offered:  # the stronger one when both are offered
            # httpx's Digest flow starts by sending the request bare: it was, and this is the
            # challenge it got, so the answer goes out now (two round trips, not three)
            flow = self._digest.auth_flow(request)
            next(flow)
            try:
                answered = flow.send(response)
            except StopIteration:
                return
            except (ValueError, KeyError) as exc:  # httpx unpacks the challenge's fields bare
                raise httpx.ProtocolError(f"malformed Digest challenge ({exc})",
                                          request=request) from None
            self.scheme = "digest"  # only once the camera's challenge could be answered
            with contextlib.suppress(StopIteration):
                while True:
                    answered = flow.send((yield answered))
        elif "basic" in offered:
            self.scheme = "basic"
            yield from self._basic.auth_flow(request)


class SnapshotClient:
    """One HTTP client per camera for its snapshot URI, kept between snapshots."""

    def __init__(self, camera_id: str, username: str, timeout: float, max_bytes: int) -> None:
        self.camera_id = camera_id
        self.username = username
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._password: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._auth: ChallengeAuth | None = None

    @property
    def scheme(self) -> str | None:
        """The authentication the snapshot URI took (digest, basic), None until known."""
        return self._auth.scheme if self._auth is not None else None

    async def credentials(self, password: str) -> None:
        """Use ``password`` from now on (a new client if it changed)."""
        if password == self._password and self._client is not None:
            return
        self._auth = ChallengeAuth(self.username, password)
        old, self._client = self._client, httpx.AsyncClient(
            auth=self._auth,
            timeout=httpx.Timeout(self.timeout), follow_redirects=False,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2,
                                keepalive_expiry=60))
        self._password = password
        if old is not None:
            await old.aclose()

    async def fetch(self, uri: str) -> bytes:
        if self._client is None:
            raise SnapshotFailed("no credentials yet (the camera was never reached)")
        try:
            async with asyncio.timeout(self.timeout), \
                    self._client.stream("GET", uri) as response:
                body = await self._read(uri, response)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise SnapshotFailed(f"snapshot URI {redact(uri)}: {type(exc).__name__} "
                                 f"{exc}".rstrip()) from None
        if not body.startswith(b"\xff\xd8"):
            kind = device_text(response.headers.get("content-type", "?"), 64)
            raise SnapshotFailed(f"snapshot URI {redact(uri)} sent {kind}, not a JPEG")
        return body

    async def _read(self, uri: str, response: httpx.Response) -> bytes:
        """The body, within ``max_bytes``; leaving the stream early closes the connection."""
        if response.status_code == 401 and self._auth is not None:
            offered = device_text(", ".join(response.headers.get_list("www-authenticate"))
                                  or "no challenge", 128)
            scheme = self._auth.scheme
            self._auth.forget()
            raise SnapshotFailed(f"snapshot URI {redact(uri)} refused the credentials "
                                 f"({scheme or 'no scheme'} tried; it offers {offered})")
        if response.status_code != 200:
            raise SnapshotFailed(f"snapshot URI {redact(uri)} answered HTTP "
                                 f"{response.status_code}")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise SnapshotFailed(f"snapshot of {int(length)} bytes (Content-Length) is larger "
                                 f"than snapshot.max_bytes {self.max_bytes}; not read")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise SnapshotFailed(f"snapshot larger than snapshot.max_bytes "
                                     f"{self.max_bytes}; dropped after {len(body)} bytes")
        return bytes(body)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def encode_jpeg(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SnapshotFailed("the frame does not encode as JPEG")
    return bytes(encoded.tobytes())


def grab_once(url: str, config: GrabberConfig) -> bytes:
    """One frame of a stream nobody grabs continuously (blocking: run it on a thread)."""
    capture = open_capture(url, config)
    try:
        if not capture.isOpened():
            raise SnapshotFailed(f"cannot open the stream {redact(url)}")
        ok, image = capture.read()
        if not ok or image is None:
            raise SnapshotFailed(f"the stream {redact(url)} sent no frame")
        return encode_jpeg(image)
    finally:
        capture.release()


class StreamFeed:
    """The camera's stream kept open: latest frame, ring buffer (clips), analytics."""

    def __init__(self, camera_id: str, url: str, grabber: GrabberConfig,
                 ring: RingConfig | None, analytics: VideoAnalyticsConfig | None,
                 on_change: Callable[[AnalyticChange], None],
                 on_health: Callable[[StreamHealth], None],
                 schedule: Callable[[str, datetime], bool] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.url = url
        self.ring = FrameRing(ring) if ring is not None else None
        self.grabber = FrameGrabber(camera_id, url, grabber,
                                    on_frame=self._keep if self.ring is not None else None,
                                    on_health=on_health, loop=loop)
        self.analyser = (VideoAnalyser(camera_id, analytics, self.grabber.latest, on_change,
                                       schedule=schedule, loop=loop)
                         if analytics is not None else None)

    def _keep(self, frame: Frame) -> None:
        if self.ring is not None:
            self.ring.offer(frame)

    def start(self) -> None:
        self.grabber.start()
        if self.analyser is not None:
            self.analyser.start()

    def stop(self) -> None:
        """Blocking (joins the threads): call it on a worker thread."""
        if self.analyser is not None:
            self.analyser.stop(2.0)
        self.grabber.stop(2.0)

    def fresh_frame(self, now: float) -> Frame | None:
        frame = self.grabber.latest()
        return frame if frame is not None and now - frame.captured_at <= FRESH else None

    async def frame_jpeg(self, timeout: float) -> bytes:
        frame = self.fresh_frame(time.time())
        if frame is None:
            last = self.grabber.latest()
            frame = await asyncio.to_thread(self.grabber.wait_frame,
                                            last.sequence if last else 0, timeout)
        if frame is None:
            raise SnapshotFailed(f"no frame from the stream ({self.grabber.health.reason})")
        return await asyncio.to_thread(encode_jpeg, frame.image)
