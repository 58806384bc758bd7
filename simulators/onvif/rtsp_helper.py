"""RTSP H.264 server for one simulated camera, run under Debian's ``/usr/bin/python3``.

GStreamer's RTSP server and its Python bindings come from Debian packages (``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``, ``gstreamer1.0-plugins-{base,good,ugly}``,
``gstreamer1.0-rtsp``), not from the virtualenv, so the camera runs this file as a helper
process and feeds it the frames it draws. It imports nothing from the project.

stdin: one JSON line (host, port, fps, width, height, username, password, mounts), then
messages of one type byte and a 4-byte big-endian length: ``F`` a raw BGR frame, ``P`` a new
password. stdout: ``ready <port>`` once listening, then ``clients <n>`` when that changes and
``password`` once a new password holds.
Digest authentication (the camera's user and password) guards every mount.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
from typing import Any

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402


def pipeline(fps: int, source: tuple[int, int], size: tuple[int, int]) -> str:
    width, height = source
    out_w, out_h = size
    bitrate = max(200, out_w * out_h * fps // 3000)
    return (f"( appsrc name=src is-live=true format=time do-timestamp=true block=false "
            f"max-bytes={width * height * 3 * 4} "
            f"caps=video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1 "
            f"! videoconvert ! videoscale ! video/x-raw,format=I420,width={out_w},"
            f"height={out_h} ! x264enc tune=zerolatency speed-preset=ultrafast "
            f"key-int-max={fps} bitrate={bitrate} ! video/x-h264,profile=baseline "
            f"! rtph264pay name=pay0 pt=96 config-interval=1 )")


class Helper:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.fps = int(settings["fps"])
        self.source = (int(settings["width"]), int(settings["height"]))
        self.username = str(settings["username"])
        self.latest: bytes | None = None
        self.sources: list[Any] = []
        self.lock = threading.Lock()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(str(settings["host"]))
        self.server.set_service(str(settings["port"]))
        self.auth = GstRtspServer.RTSPAuth()
        self.auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        self.token = GstRtspServer.RTSPToken()
        self.token.set_string("media.factory.role", "viewer")
        self.auth.add_digest(self.username, str(settings["password"]), self.token)
        self.server.set_auth(self.auth)
        mounts = self.server.get_mount_points()
        role = Gst.Structure.from_string("viewer, media.factory.access=(boolean)true, "
                                         "media.factory.construct=(boolean)true")[0]
        for path, (width, height) in settings["mounts"].items():
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(pipeline(self.fps, self.source, (int(width), int(height))))
            factory.set_shared(True)
            factory.add_role_from_structure(role)
            factory.connect("media-configure", self.configured)
            mounts.add_factory(path, factory)

    def configured(self, factory: Any, media: Any) -> None:
        appsrc = media.get_element().get_child_by_name("src")
        with self.lock:
            self.sources.append(appsrc)
            count = len(self.sources)
        media.connect("unprepared", self.unprepared, appsrc)
        say(f"clients {count}")

    def unprepared(self, media: Any, appsrc: Any) -> None:
        with self.lock:
            if appsrc in self.sources:
                self.sources.remove(appsrc)
            count = len(self.sources)
        say(f"clients {count}")

    def push(self) -> bool:
        frame = self.latest
        if frame is not None:
            with self.lock:
                targets = list(self.sources)
            for appsrc in targets:
                appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(frame))
        return True

    def set_password(self, password: str) -> bool:
        self.auth.remove_digest(self.username)
        self.auth.add_digest(self.username, password, self.token)
        print("password", flush=True)  # the camera answers its action once it holds
        return False

    def read_stdin(self, loop: Any) -> None:
        stream = sys.stdin.buffer
        try:
            while True:
                head = stream.read(5)
                if len(head) < 5:
                    break
                kind, length = head[:1], struct.unpack(">I", head[1:])[0]
                payload = stream.read(length)
                if len(payload) < length:
                    break
                if kind == b"F":
                    self.latest = payload
                elif kind == b"P":
                    GLib.idle_add(self.set_password, payload.decode())
        finally:
            GLib.idle_add(loop.quit)

    def run(self) -> None:
        loop = GLib.MainLoop()
        if self.server.attach(None) == 0:
            say("error cannot listen")
            sys.exit(3)
        say(f"ready {self.server.get_bound_port()}")
        GLib.timeout_add(max(10, 1000 // self.fps), self.push)
        threading.Thread(target=self.read_stdin, args=(loop,), daemon=True).start()
        loop.run()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    Gst.init(None)
    settings = json.loads(sys.stdin.buffer.readline())
    Helper(settings).run()


if __name__ == "__main__":
    main()
