"""The access commands as a guard, a supervisor and a site without a centre use them: the CLI,
the real gateway process and mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.access.credentials import CredentialStore
from tests.conftest import Mosquitto, Subscriber
from tests.rig import CHIEF_TOKEN, GatewayProcess, cli, site_file

ACCESS = {"access": {
    "gates": [{"id": "main-gate", "egress": True}, {"id": "staff-door"}],
    "visitors": {"default_gates": ["main-gate"]},
}}


def test_a_file_import_a_visit_and_a_lockdown_from_the_command_line(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=0, extra=ACCESS)
    cards = tmp_path / "cards.csv"
    rows = ["person_id,category,code,gates"]
    rows += [f"S{n:05d},student,{20260000 + n},main-gate" for n in range(1500)]
    rows += ["T001,staff,90001,"]
    cards.write_text("\n".join(rows) + "\n")
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_for(lambda msgs: any(m.topic.endswith("/status") and m.json()["online"]
                                             for m in msgs), what="gateway online")
        imported = cli(site, "credentials", "import", str(cards), operator="chief",
                       token=CHIEF_TOKEN)
        assert imported.returncode == 0, imported.stderr
        assert "version 1: 1501 persons, 1501 credentials" in imported.stdout
        synced, = subscriber.wait_event("access.credentials_synced")
        assert synced["data"]["version"] == 1 and synced["data"]["kind"] == "snapshot"
        status = subscriber.wait_for(lambda msgs: [
            m.json() for m in msgs if m.topic.endswith("/status") and m.payload
            and m.json().get("access", {}).get("credentials_version") == 1], what="status v1")
        assert status[-1]["access"]["credentials"] == 1501
        # a guard may not import; the refusal says why and is audited
        refused = cli(site, "credentials", "import", str(cards))
        assert refused.returncode == 1 and "forbidden" in refused.stderr
        # a visit with its pass as a QR code
        qr = tmp_path / "pass.png"
        added = cli(site, "visitor", "add", "--name", "Ms Li", "--host", "T001", "--purpose",
                    "parent meeting", "--until", "+2h", "--qr", str(qr))
        assert added.returncode == 0, added.stderr
        assert "pass code" in added.stdout and qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        registered, = subscriber.wait_event("visitor.registered")
        assert registered["data"]["gates"] == ["main-gate"]
        assert registered["data"]["name"] is None  # no names in events unless opted in
        # yesterday's window: refused by the gateway's own check, with what was wrong
        late = cli(site, "visitor", "add", "--name", "Mr Wu", "--host", "T001",
                   "--from", "2026-01-05T09:00+08:00", "--until", "2026-01-05T11:00+08:00")
        assert late.returncode == 1 and "already past" in late.stderr, late.stderr
        listed = cli(site, "visitor", "list", "--json")
        assert json.loads(listed.stdout)[0]["name"] == "Ms Li"
        assert "pass_code" not in json.loads(listed.stdout)[0]
        # lockdown is a supervisor's
        assert "forbidden" in cli(site, "access", "lockdown-start").stderr
        locked = cli(site, "access", "lockdown-start", "--note", "intruder drill",
                     operator="chief", token=CHIEF_TOKEN)
        assert locked.returncode == 0, locked.stderr
        modes = subscriber.wait_event("access.gate_mode", count=2, mode="locked")
        assert {m["data"]["gate"] for m in modes} == {"main-gate", "staff-door"}
        gates = json.loads(cli(site, "access", "gates", "--json").stdout)
        assert gates["lockdown"]["by"] == "chief"
        cli(site, "access", "lockdown-stop", operator="chief", token=CHIEF_TOKEN)
        # normal at start (every start says each gate's mode), and again after the lockdown
        subscriber.wait_event("access.gate_mode", count=4, mode="normal")
        audited = {(e["data"]["command"], e["data"]["outcome"])
                   for e in subscriber.events("audit.command")}
        assert {("credentials.snapshot", "ok"), ("credentials.snapshot", "denied"),
                ("visitor.add", "ok"), ("lockdown.start", "ok"),
                ("lockdown.start", "denied"), ("lockdown.stop", "ok")} <= audited
    finally:
        gateway.stop()


def test_an_excel_export_in_gb18030_is_imported_and_a_latin1_file_refused(
        tmp_path: Path, mosquitto: Mosquitto, subscriber: Subscriber) -> None:
    site = site_file(tmp_path, mosquitto.url, modules=0, extra=ACCESS)
    cards = tmp_path / "学生名单.csv"
    rows = ["person_id,category,code,name"]
    rows += [f"S{n:05d},student,{20260000 + n},学生{n}号" for n in range(3000)]
    cards.write_bytes(("\r\n".join(rows) + "\r\n").encode("gb18030"))
    latin = tmp_path / "staff.csv"
    latin.write_bytes("person_id,category,code,name\nT001,staff,9001,José\n".encode("latin-1"))
    # the file is read before the gateway is asked anything: no gateway needed to refuse it
    refused = cli(site, "credentials", "import", str(latin), operator="chief",
                  token=CHIEF_TOKEN)
    assert refused.returncode == 2, refused.stderr
    assert "staff.csv: line 2, byte offset 48 (0xE9): neither UTF-8 nor GB18030" \
        in refused.stderr
    assert "Traceback" not in refused.stderr
    gateway = GatewayProcess(site).start()
    try:
        subscriber.wait_for(lambda msgs: any(m.topic.endswith("/status") and m.json()["online"]
                                             for m in msgs), what="gateway online")
        imported = cli(site, "credentials", "import", str(cards), operator="chief",
                       token=CHIEF_TOKEN)
        assert imported.returncode == 0, imported.stderr
        assert "version 1: 3000 persons, 3000 credentials" in imported.stdout
        # not a terminal: progress as plain lines, the last one complete
        sending = [line for line in imported.stderr.splitlines() if ": sending: " in line]
        assert len(sending) > 1 and "\r" not in imported.stderr, imported.stderr
        done = sending[-1].split(": sending: ")[1]
        parts = done.split(" of ")[1].split()[0]
        assert done == f"100% ({parts} of {parts} parts)", sending
        subscriber.wait_event("access.credentials_synced")
    finally:
        gateway.stop()
    # the names as the office wrote them, where the roll call reads them
    store = CredentialStore(tmp_path / "state")
    try:
        assert store.person("S02999") == ("student", "学生2999号")
    finally:
        store.close()
