"""A broker may refuse the gateway's command subscription (SUBACK 0x80) and keep the connection:
a cluster node does while the leaders of its session store are being elected, and a broker at
its limit of subscriptions does. The gateway asks again until it is granted, so commands reach
it once the broker can take them, and says in its log that none can until then.

The broker here is a NATS server (its MQTT listener) whose account may hold two JetStream
consumers, one per MQTT QoS 1 subscription: while another client holds both, the gateway's
subscription is refused; when that client leaves, the gateway's next try is granted."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from simulators.broker_cluster import nats_server
from tests.conftest import free_port, wait_port
from tests.rig import GatewayProcess, SimulatorThread, cli, site_file


def _limited_broker(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(f"""\
listen: 127.0.0.1:-1
server_name: limited
jetstream {{ store_dir: "{tmp_path / 'js'}" }}
accounts {{ district: {{ jetstream: {{ max_consumers: 2 }},
                        users: [{{user: platform, password: for-tests-only}}] }} }}
no_auth_user: platform
mqtt {{ listen: 127.0.0.1:{port} }}
""")
    with (tmp_path / "nats.log").open("ab") as log:
        proc = subprocess.Popen([nats_server(), "-c", str(conf)], stdout=log,
                                stderr=subprocess.STDOUT)
    wait_port(port)
    return proc, port


def _holder(port: int) -> mqtt.Client:
    """A client holding both consumers the account allows (two QoS 1 subscriptions)."""
    granted: list[bool] = []
    done = threading.Event()

    def on_subscribe(_c: mqtt.Client, _u: object, _m: int, reasons: list[mqtt.ReasonCode],
                     _p: object) -> None:
        granted.extend(not r.is_failure for r in reasons)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="holder",
                         protocol=mqtt.MQTTv311)
    client.on_subscribe = on_subscribe
    deadline = time.monotonic() + 30
    while True:  # JetStream takes a moment to be ready for MQTT
        client.connect("127.0.0.1", port)
        client.loop_start()
        client.subscribe([("hold/a", 1), ("hold/b", 1)])
        if done.wait(10) and granted == [True, True]:
            return client
        client.disconnect()
        client.loop_stop()
        assert time.monotonic() < deadline, f"the holder's subscriptions: {granted}"
        granted.clear()
        done.clear()
        time.sleep(0.5)


def _wait_log(gateway: GatewayProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in gateway.output():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{gateway.output()[-3000:]}"
        time.sleep(0.1)


def test_a_refused_command_subscription_is_asked_for_again(tmp_path: Path) -> None:
    broker, port = _limited_broker(tmp_path)
    holder = _holder(port)
    site = site_file(tmp_path, f"mqtt://127.0.0.1:{port}", modules=1, protocol="3.1.1")
    sims = SimulatorThread(site)
    gateway = GatewayProcess(site).start()
    try:
        _wait_log(gateway, "refused the subscription to campus/school-1/gateway/gw1/request/+",
                  30)
        holder.disconnect()  # its consumers go with its clean session
        holder.loop_stop()
        _wait_log(gateway, "took the command subscription: commands reach the gateway again",
                  30)
        listed = cli(site, "alarm", "list")
        assert listed.returncode == 0, listed.stderr
    finally:
        gateway.stop()
        sims.stop()
        broker.terminate()
        broker.wait(10)
