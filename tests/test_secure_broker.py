"""The gateway against a broker that demands TLS and a password, as a central platform would.

The password reaches the gateway through the environment (never the site file). With a wrong one
the broker refuses the gateway, which says so and keeps what it accepts meanwhile: once started
with the right password, it delivers it.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import trustme
import yaml

from tests.conftest import Mosquitto, free_port, wait_port
from tests.rig import GUARD_TOKEN, SimulatorThread, site_file

PASSWORD = "broker-password-for-tests-only"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, trustme.CA]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    passwords = tmp_path / "passwords"
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "gw1", PASSWORD], check=True)
    broker = Mosquitto(tmp_path)
    broker.port = free_port()
    broker.conf.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\n"
        f"password_file {passwords}\ncafile {tmp_path / 'ca.pem'}\n"
        f"certfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\n"
        # as root, mosquitto would switch to its own user, who cannot read pytest's tmp dirs
        + ("user root\n" if os.getuid() == 0 else ""))
    broker.proc = subprocess.Popen([broker.binary, "-c", str(broker.conf)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(broker.port)
    yield broker, ca
    broker.stop()


def test_gateway_publishes_over_tls_with_a_password_from_the_environment(
        tmp_path: Path, tls_broker: tuple[Mosquitto, trustme.CA]) -> None:
    broker, ca = tls_broker
    site = site_file(tmp_path, f"mqtts://127.0.0.1:{broker.port}", modules=1)
    doc = yaml.safe_load(site.read_text())
    doc["mqtt"].update({"username": "gw1", "password": {"env": "TEST_BROKER_PASSWORD"},
                        "tls": {"ca_file": str(tmp_path / "ca.pem")}})
    site.write_text(yaml.safe_dump(doc))
    assert PASSWORD not in site.read_text()

    received: list[mqtt.MQTTMessage] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.username_pw_set("gw1", PASSWORD)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    sub.tls_set_context(context)
    sub.on_message = lambda c, u, m: received.append(m)
    sub.on_connect = lambda c, *a: c.subscribe("campus/#", qos=1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()

    sims = SimulatorThread(site)
    log_path = tmp_path / "gateway.log"

    def start(password: str) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "-c", str(site)], stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "TEST_BROKER_PASSWORD": password})

    def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not check():
            time.sleep(0.05)
        assert check(), f"{what}\n{log_path.read_text()}"

    panic_topic = "campus/school-1/event/panic/io-0"
    gateway = start("a wrong password")
    try:
        wait_for("the broker's refusal logged", lambda: "refused the connection" in
                 log_path.read_text())
        sims.press("io-0", "btn-a")  # accepted into the outbox while the broker refuses us
        time.sleep(1.0)
        gateway.terminate()
        assert gateway.wait(20) == 0
        assert not any(m.topic == panic_topic for m in received)

        gateway = start(PASSWORD)
        wait_for("the press accepted during the refusal",
                 lambda: any(m.topic == panic_topic for m in received))

        # the CLI reaches the same broker with the site file's username, password and CA
        listed = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "alarm", "list", "-c", str(site)],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "TEST_BROKER_PASSWORD": PASSWORD, "CAMPUS_OPERATOR": "guard1",
                 "CAMPUS_OPERATOR_TOKEN": GUARD_TOKEN})
        assert listed.returncode == 0, listed.stderr
        assert "panic" in listed.stdout
    finally:
        gateway.terminate()
        gateway.wait(20)
        sims.stop()
        sub.loop_stop()
