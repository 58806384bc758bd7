"""A device action that fails inside its driver reaches every caller (linkage, sirens, the
command router) as the refusal they all handle, ``ActionError``, never as an exception none of
them expects (a camera's malformed answer once escaped as a bare ValueError and cost the alarm
its linkage outcome)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.kernel.ports import ActionError
from gateway.supervisor import Supervisor


class Camera:
    """A driver whose actions fail the ways a driver can."""

    device_id = "cam-1"

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if action == "refused":
            raise ActionError("cam-1: no such preset")
        raise ValueError("not enough values to unpack (expected 2, got 1)")


def test_a_drivers_defect_in_an_action_is_a_refusal_that_names_it() -> None:
    supervisor = Supervisor()
    supervisor.add_driver(Camera())

    async def scenario() -> None:
        with pytest.raises(ActionError, match=r"cam-1: snapshot failed: ValueError: not enough"):
            await supervisor.execute("cam-1", "snapshot", {})
        with pytest.raises(ActionError, match=r"^cam-1: no such preset$"):
            await supervisor.execute("cam-1", "refused", {})

    asyncio.run(scenario())
