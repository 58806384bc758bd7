"""A small HTTP MJPEG camera for tests: ``multipart/x-mixed-replace`` of synthetic JPEG frames,
each showing its frame number as a row of black and white squares (readable after JPEG), and
able to stop (dropping every connection) and start again on the same port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

BITS = 16
CELL = 20
BOUNDARY = "frameboundary"


def numbered_frame(number: int, width: int = 320, height: int = 240) -> np.ndarray:
    image = np.full((height, width, 3), 128, np.uint8)
    for bit in range(BITS):
        value = 255 if number >> bit & 1 else 0
        image[10:10 + CELL, 10 + bit * (CELL // 2 + 5):10 + bit * (CELL // 2 + 5) + CELL // 2] = \
            value
    return image


def read_number(image: np.ndarray) -> int:
    number = 0
    for bit in range(BITS):
        x = 10 + bit * (CELL // 2 + 5) + CELL // 4
        if image[10 + CELL // 2, x].mean() > 128:
            number |= 1 << bit
    return number


class MjpegCamera:
    """``picture(number)`` draws frame ``number`` (default: the number as squares); it can be
    replaced while the camera runs."""

    def __init__(self, fps: float = 25.0, port: int = 0,
                 picture: Callable[[int], np.ndarray] = numbered_frame) -> None:
        self.fps = fps
        self.port = port
        self.picture = picture
        self.sent = 0  # number of the last frame sent
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type",
                                 f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                with camera._lock:
                    camera._connections.add(self.connection)
                try:
                    camera._stream(self.wfile)
                except OSError:
                    pass
                finally:
                    with camera._lock:
                        camera._connections.discard(self.connection)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._running.set()
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _stream(self, out: Any) -> None:
        period = 1.0 / self.fps
        due = time.monotonic()
        while self._running.is_set():
            with self._lock:
                self.sent += 1
                number = self.sent
            ok, jpeg = cv2.imencode(".jpg", self.picture(number))
            assert ok
            data = jpeg.tobytes()
            out.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n".encode() + data + b"\r\n")
            out.flush()
            due += period
            time.sleep(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        """Stop listening and cut every open stream, as a camera that reboots does."""
        self._running.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
