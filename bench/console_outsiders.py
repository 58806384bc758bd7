"""The console against outsiders: what an unauthenticated client's bodies cost the gateway, and
what the per-request session check costs a guard.

* ``POST /login`` declaring 2 GiB in Content-Length (no body sent): the answer, and the bytes
  the gateway read before giving it.
* The same upload chunked (``--upload-mib``, a file part of a multipart form): how much of it the
  gateway took before answering, the files left in its TMPDIR and its RSS after.
* ``--fields`` form fields of 1 MiB each in one login request (chunked): the answer and the
  gateway's RSS before and after.
* A signed-in guard's ``GET /api/state``, ``--requests`` times over one connection: the median
  and p99 (each request also reads the operator's generation from operators.sqlite3), and that
  read alone, in this process, on a database of 100 operators.

Everything runs on this machine: a private mosquitto, the gateway as its own process (one
Modbus module that is not there: the console is what is measured). Prints figures only; exit
code 1 only if the run itself broke.

    .venv/bin/python bench/console_outsiders.py
    .venv/bin/python bench/console_outsiders.py --upload-mib 2048 --fields 1000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import yaml
from benchlib import Gateway, Mosquitto, free_port, machine, rss_mib, wait_port

PASSWORD = "bench-guard-password"
MIB = 1024 * 1024


def write_site(workdir: Path, broker: str) -> tuple[Path, int]:
    port = free_port()
    doc = {"site": {"id": "school-1"},
           "gateway": {"id": "gw1", "state_dir": str(workdir / "state")},
           "mqtt": {"url": broker, "protocol": "5"},
           "console": {"listen": {"host": "127.0.0.1", "port": port}},
           "devices": [{"id": "io-0", "driver": "modbus",
                        "tcp": {"host": "127.0.0.1", "port": free_port()},
                        "points": [{"id": "btn-a", "input": 0, "zone": "gate"}]}]}
    path = workdir / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, port


def exchange(port: int, head: bytes, body: Iterator[bytes]) -> tuple[bytes, int]:
    """The answer's first line, and how many body bytes the server took before it answered."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        for chunk in body:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            if answer:
                break  # answered while the body was still coming
            view = memoryview(chunk)
            try:
                while view:
                    try:
                        n = sock.send(view)
                        view = view[n:]
                        sent += n
                    except BlockingIOError:
                        time.sleep(0.001)
                        with contextlib.suppress(BlockingIOError):
                            answer += sock.recv(65536)
                        if answer:
                            break
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        sock.settimeout(10)
        try:
            while b"\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    return answer.split(b"\r\n", 1)[0] or b"(no answer within 10 s)", sent


def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def upload(mib: int) -> Iterator[bytes]:
    yield b'--b\r\nContent-Disposition: form-data; name="name"; filename="x"\r\n\r\n'
    block = b"A" * MIB
    for _ in range(mib):
        yield block
    yield b"\r\n--b--\r\n"


def fields(count: int) -> Iterator[bytes]:
    value = b"v" * MIB
    for n in range(count):
        yield b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n%s\r\n' % (n, value)
    yield b"--b--\r\n"


def generation_read(workdir: Path) -> float:
    """Microseconds per ConsoleOperators.generation on a database of 100 operators."""
    from gateway.console.operators import ConsoleOperators

    store = ConsoleOperators(workdir / "generation.sqlite3")
    for n in range(100):
        store.add(f"guard{n}", "guard", PASSWORD)
    store.generation("guard50")
    rounds = 20_000
    start = time.perf_counter()
    for _ in range(rounds):
        store.generation("guard50")
    return (time.perf_counter() - start) / rounds * 1e6


def run(args: argparse.Namespace, workdir: Path) -> None:
    broker = Mosquitto(workdir).start()
    site, port = write_site(workdir, broker.url)
    secret = workdir / "password"
    secret.write_text(PASSWORD)
    subprocess.run([sys.executable, "-m", "gateway.cli", "operator", "add", "guard1", "--role",
                    "guard", "-c", str(site), "--password-file", str(secret)], check=True,
                   capture_output=True)
    temp = workdir / "gateway-tmp"
    temp.mkdir()
    os.environ["TMPDIR"] = str(temp)  # the gateway's spooled uploads, if any, land here
    gateway = Gateway(site)
    try:
        wait_port(port, 30)
        time.sleep(1)
        pid = gateway.proc.pid
        print(f"console under outsiders; {machine()}")
        print(f"  gateway RSS at start {rss_mib(pid):.0f} MiB")
        form = b"Content-Type: multipart/form-data; boundary=b\r\n"
        line, sent = exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\n" + form
                              + b"Content-Length: 2147483648\r\n\r\n", iter([]))
        print(f"  2 GiB declared: {line.decode()} after {sent} body bytes sent")

        start = time.perf_counter()
        line, sent = exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\n" + form
                              + b"Transfer-Encoding: chunked\r\n\r\n",
                              chunked(upload(args.upload_mib)))
        took = time.perf_counter() - start
        left = sum(f.stat().st_size for f in temp.rglob("*") if f.is_file())
        print(f"  {args.upload_mib} MiB upload, chunked: {line.decode()} after "
              f"{sent / MIB:.2f} MiB written to the socket, {took:.2f} s; "
              f"{left / MIB:.1f} MiB left in TMPDIR; RSS {rss_mib(pid):.0f} MiB")

        before = rss_mib(pid)
        line, sent = exchange(port, b"POST /login HTTP/1.1\r\nHost: x\r\n" + form
                              + b"Transfer-Encoding: chunked\r\n\r\n", chunked(fields(args.fields)))
        print(f"  {args.fields} fields of 1 MiB: {line.decode()} after {sent / MIB:.2f} MiB "
              f"written to the socket; RSS {before:.0f} -> {rss_mib(pid):.0f} MiB")
        for path in temp.rglob("*"):
            path.unlink()

        url = f"http://127.0.0.1:{port}/"
        with httpx.Client(base_url=url) as web:
            page = web.get("login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            web.post("login", data={"name": "guard1", "password": PASSWORD, "csrf": csrf})
            times = []
            for _ in range(args.requests):
                start = time.perf_counter()
                answer = web.get("api/state")
                times.append(time.perf_counter() - start)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET /api/state answered {answer.status_code}")
        ms = np.array(times) * 1000
        print(f"  GET /api/state signed in, {args.requests} requests: median "
              f"{np.median(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms")
        print(f"  the operator generation read alone: {generation_read(workdir):.1f} µs")
        print(f"  gateway alive at the end: {gateway.alive()}")
    finally:
        gateway.stop()
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mib", type=int, default=256)
    parser.add_argument("--fields", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-outsiders-") as tmp:
        try:
            run(args, Path(tmp))
        except (RuntimeError, TimeoutError) as exc:
            print(f"the run broke: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
