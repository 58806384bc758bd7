"""rotate_key: a reader in a working secure channel gets the next key from beside its key file
(osdp_KEYSET inside the session), confirmed by a new secure session; the key file then holds it.
A reader that does not take the key keeps working with the old one, and the answer says which
key is in use. Driver (libosdp CP) and simulated reader (libosdp PD) over TCP; the decisions are
the test's (the only fake)."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.osdp.driver import OsdpBusDriver
from drivers.osdp.models import OsdpBusConfig
from gateway.command_table import device_action_role
from gateway.kernel.ports import ActionError
from tests.osdp.support import KEYS, Rig, bus, free_port, grant, reader, running, until

Run = Callable[..., Any]
NEW_KEY = "5e11a7c0ffee0ddba11f00d5eedcafe1"


def keyed_bus(tmp_path: Path) -> tuple[OsdpBusConfig, Path]:
    """A bus whose reader gate-1-in reads its key from a file; its next key is beside it."""
    key_file = tmp_path / "gate-1-in.key"
    write_secret(key_file, KEYS["OSDP_TEST_KEY_IN"])
    write_secret(tmp_path / "gate-1-in.key.next", NEW_KEY)
    readers = [reader("gate-1-in", 1, "", key={"file": str(key_file)}),
               reader("gate-1-out", 2, "OSDP_TEST_KEY_OUT", direction="out")]
    return bus(readers, tcp_port=free_port()), key_file


def write_secret(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text + "\n")
    path.chmod(mode)


async def a_card_is_decided(rig: Rig, number: int) -> None:
    sim = rig.sims.reader("gate-1-in")
    pulses = sim.pulses(0)
    await sim.present_card(number)
    await until(lambda: sim.pulses(0) == pulses + 1, 10, what=f"card {number} granted")


def test_rotate_key_is_a_supervisors_action() -> None:
    assert device_action_role({"action": "rotate_key"}) == "supervisor"


def test_a_secured_reader_takes_the_new_key_and_the_key_file_holds_it(tmp_path: Path,
                                                                      run: Run) -> None:
    config, key_file = keyed_bus(tmp_path)

    async def scenario() -> None:
        async with running(config, grant) as rig:
            result = await rig.driver.execute("rotate_key", {"reader": "gate-1-in"})
            assert result == {"reader": "gate-1-in", "rotated": True, "key": "new", "error": ""}
            state = await rig.sims.reader("gate-1-in").state()
            assert state["key"] == "installed" and state["secure_channel"]
            assert key_file.read_text().strip() == NEW_KEY
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert not (tmp_path / "gate-1-in.key.next").exists()
            assert NEW_KEY not in str(result)
            await a_card_is_decided(rig, 40321)
            assert [online for online, _ in rig.sink.availability_of("gate-1-in")] == [True]
            # a gateway that starts again reads the new key from the site's key file
            assert rig._task is not None
            rig._task.cancel()
            await asyncio.gather(rig._task, return_exceptions=True)
            rig.driver = OsdpBusDriver(config, rig.sink)
            rig._task = asyncio.create_task(rig.driver.run())
            await until(lambda: rig.driver._sessions["gate-1-in"].online, 15, what="online")
            await a_card_is_decided(rig, 40322)

    run(scenario())


@pytest.mark.parametrize(("answer", "rotated", "key", "error"), [
    ("refuse", False, "old", "refused the new key"),
    ("forget", False, "old", "acknowledged the new key but no secure session came with it"),
    ("lost-ack", True, "new", "only with the new key (its acknowledgement was lost)"),
])
def test_a_reader_that_does_not_confirm_the_new_key_keeps_the_key_that_works(
        answer: str, rotated: bool, key: str, error: str, tmp_path: Path, run: Run) -> None:
    config, key_file = keyed_bus(tmp_path)

    async def scenario() -> None:
        async with running(config, grant) as rig:
            await rig.sims.reader("gate-1-in").act("keyset", {"answer": answer})
            result = await rig.driver.execute("rotate_key", {"reader": "gate-1-in"})
            assert (result["rotated"], result["key"]) == (rotated, key), result
            assert error in result["error"]
            await until(lambda: rig.driver._sessions["gate-1-in"].online, 10, what="online")
            await a_card_is_decided(rig, 7)
            held = key_file.read_text().strip()
            assert held == (NEW_KEY if rotated else KEYS["OSDP_TEST_KEY_IN"])
            assert (tmp_path / "gate-1-in.key.next").exists() != rotated
            assert rig.sink.availability_of("gate-1-out") == [
                (True, "online, secure channel active")], "the other reader never flapped"

    run(scenario())


def test_rotate_key_refuses_what_it_cannot_do_safely(tmp_path: Path, run: Run) -> None:
    config, _ = keyed_bus(tmp_path)
    next_key = tmp_path / "gate-1-in.key.next"

    async def scenario() -> None:
        async with running(config, grant) as rig:
            async def refused(reader_id: str, match: str) -> None:
                with pytest.raises(ActionError, match=match):
                    await rig.driver.execute("rotate_key", {"reader": reader_id})

            await refused("gate-1-out", "environment variable OSDP_TEST_KEY_OUT")
            next_key.chmod(0o644)
            await refused("gate-1-in", r"can be read by other users \(mode 0644\); chmod 600")
            write_secret(next_key, "not a key")
            await refused("gate-1-in", "not a usable key: the key is not hexadecimal")
            write_secret(next_key, KEYS["OSDP_TEST_KEY_IN"])
            await refused("gate-1-in", "is the key reader gate-1-in already uses")
            os.unlink(next_key)
            await refused("gate-1-in", "gate-1-in.key.next does not exist")
            await rig.sims.reader("gate-1-in").act("offline", {})
            await until(lambda: not rig.driver._sessions["gate-1-in"].online, what="offline")
            write_secret(next_key, NEW_KEY)
            await refused("gate-1-in", "offline; a key is changed only inside a working")
            assert (await rig.sims.reader("gate-1-out").state())["key"] == "site"

    run(scenario())
