"""Device and media services, snapshot and streams, through onvif-zeep-async and OpenCV."""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit, urlunsplit

import cv2
import httpx
import numpy as np
import pytest

from simulators.onvif.rtsp import rtsp_available
from tests.onvif_sim.support import PASSWORD, USER, client, run, simulated

MEDIA = "http://www.onvif.org/ver10/media/wsdl"
EVENTS = "http://www.onvif.org/ver10/events/wsdl"
PTZ = "http://www.onvif.org/ver20/ptz/wsdl"


def with_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{USER}:{PASSWORD}@{parts.netloc}"))


def decoded(jpeg: bytes) -> np.ndarray:
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None, "not a JPEG"
    return np.asarray(frame)


def test_services_information_and_profiles() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            assert set(onvif.xaddrs) == {"http://www.onvif.org/ver10/device/wsdl", MEDIA,
                                         EVENTS, PTZ}  # no Media2: it is not served
            device = await onvif.create_devicemgmt_service()
            info = await device.GetDeviceInformation()
            assert info.Manufacturer == "Campus Sim" and info.SerialNumber == camera.serial
            scopes = [s.ScopeItem for s in await device.GetScopes()]
            assert "onvif://www.onvif.org/name/Main%20gate%20camera" in scopes
            assert "onvif://www.onvif.org/location/gate-house" in scopes
            assert (await device.GetHostname()).Name == "gate-cam"
            interfaces = await device.GetNetworkInterfaces()
            assert interfaces[0].Info.HwAddress == camera.mac
            capabilities = await onvif.get_capabilities()
            assert capabilities is not None
            assert capabilities["Events"]["WSPullPointSupport"] is True
            assert capabilities["PTZ"]["XAddr"].endswith("/onvif/ptz_service")

            media = await onvif.create_media_service()
            profiles = await media.GetProfiles()
            assert [p.token for p in profiles] == ["Profile_1", "Profile_2"]
            sources = {s.token for s in await media.GetVideoSources()}
            assert {p.VideoSourceConfiguration.SourceToken for p in profiles} <= sources
            assert profiles[0].PTZConfiguration.NodeToken == "PTZNode_1"
            assert profiles[0].VideoEncoderConfiguration.Resolution.Width == 640
            assert profiles[1].VideoEncoderConfiguration.Resolution.Width == 320

    run(scenario())


def test_fixed_camera_has_no_ptz() -> None:
    async def scenario() -> None:
        async with simulated(presets=[], scene="stairwell") as camera, client(camera) as onvif:
            assert PTZ not in onvif.xaddrs
            media = await onvif.create_media_service()
            profiles = await media.GetProfiles()
            assert profiles[0].PTZConfiguration is None

    run(scenario())


def test_snapshot_decodes_and_needs_digest() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            uri = await onvif.get_snapshot_uri("Profile_1")
            jpeg = await onvif.get_snapshot("Profile_1")
            assert jpeg is not None
            assert decoded(jpeg).shape == (480, 640, 3)
            small = await onvif.get_snapshot("Profile_2")
            assert small is not None and decoded(small).shape == (240, 320, 3)
            async with httpx.AsyncClient() as http:
                assert (await http.get(uri)).status_code == 401
                wrong = await http.get(uri, auth=httpx.DigestAuth(USER, "nope"))
                assert wrong.status_code == 401
                basic = await http.get(uri, auth=httpx.BasicAuth(USER, PASSWORD))
                assert basic.status_code == 401  # digest only, as the cameras it stands for
                good = await http.get(uri, auth=httpx.DigestAuth(USER, PASSWORD))
                assert good.status_code == 200 and good.headers["content-type"] == "image/jpeg"

    run(scenario())


def _read_frames(url: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        assert capture.isOpened(), f"OpenCV could not open {url}"
        frames = []
        for _ in range(count):
            ok, frame = capture.read()
            assert ok
            frames.append(frame)
        return frames
    finally:
        capture.release()


def test_mjpeg_stream_reads_in_opencv() -> None:
    async def scenario() -> None:
        async with simulated(rtsp=False) as camera, client(camera) as onvif:
            media = await onvif.create_media_service()
            answer = await media.GetStreamUri({"ProfileToken": "Profile_1", "StreamSetup": {
                "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
            uri = answer.Uri  # no RTSP server here: the stream that works, MJPEG over HTTP
            assert uri == camera.mjpeg_url("Profile_1")
            frames = await asyncio.to_thread(_read_frames, with_credentials(uri), 3)
            assert all(f.shape == (480, 640, 3) for f in frames)
            assert camera.counters["mjpeg_frames"] >= 3
            sub = await asyncio.to_thread(_read_frames,
                                          with_credentials(camera.mjpeg_url("Profile_2")), 1)
            assert sub[0].shape == (240, 320, 3)

    run(scenario())


def test_rtsp_stream_reads_in_opencv(monkeypatch: pytest.MonkeyPatch) -> None:
    if not rtsp_available():  # make test installs it: a machine without it fails, never skips
        pytest.fail("GStreamer RTSP server not installed (gir1.2-gst-rtsp-server-1.0, "
                    "gstreamer1.0-plugins-ugly, python3-gi): run make test")
    monkeypatch.setitem(os.environ, "OPENCV_FFMPEG_CAPTURE_OPTIONS",
                        "rtsp_transport;tcp|analyzeduration;200000|probesize;32768")

    async def scenario() -> None:
        async with simulated(rtsp=True) as camera, client(camera) as onvif:
            media = await onvif.create_media_service()
            profiles = await media.GetProfiles()
            assert profiles[0].VideoEncoderConfiguration.Encoding == "H264"
            answer = await media.GetStreamUri({"ProfileToken": "Profile_1", "StreamSetup": {
                "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
            assert answer.Uri.startswith("rtsp://127.0.0.1:")
            frames = await asyncio.to_thread(_read_frames, with_credentials(answer.Uri), 2)
            assert frames[0].shape == (480, 640, 3)
            http = await media.GetStreamUri({"ProfileToken": "Profile_1", "StreamSetup": {
                "Stream": "RTP-Unicast", "Transport": {"Protocol": "HTTP"}}})
            assert http.Uri == camera.mjpeg_url("Profile_1")
            stranger = urlsplit(answer.Uri)._replace(
                netloc=f"{USER}:wrong@{urlsplit(answer.Uri).netloc}")
            capture = await asyncio.to_thread(cv2.VideoCapture, urlunsplit(stranger),
                                              cv2.CAP_FFMPEG)
            assert not capture.isOpened()
            await camera.act("password", {"value": "rotated"})
            rotated = urlunsplit(urlsplit(answer.Uri)._replace(
                netloc=f"{USER}:rotated@{urlsplit(answer.Uri).netloc}"))
            assert len(await asyncio.to_thread(_read_frames, rotated, 1)) == 1

    run(scenario(), timeout=60)
