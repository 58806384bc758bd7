"""An RTSP H.264 camera for tests, run under Debian's python3 (GStreamer's gi bindings are not
in the venv): ``/usr/bin/python3 rtsp_server.py PORT`` serves ``rtsp://127.0.0.1:PORT/cam``
(videotestsrc, 640x480, 25 fps, a keyframe every second) until killed."""

import sys

import gi  # type: ignore[import-not-found]  # Debian python3 only, not in the venv

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

PIPELINE = ("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,"
            "framerate=25/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )")


def main() -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
