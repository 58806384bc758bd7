"""The command queue answers every request, also one that arrives before its workers run: the
broker hands a retained or queued request over the moment the link subscribes, which can be
before the first worker has started (seen under load: a retained request went unanswered).

The router here is a stand-in that answers every request at once: what is tested is the queue's
hand-over from the MQTT thread to the workers, not the checks of a request (tests of the router
and the end-to-end tests cover those)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from gateway.commands import CommandQueue
from gateway.config import Commands
from gateway.mqtt_link import Request
from gateway.supervisor import Pulse


class AnsweringRouter:
    async def handle(self, request: Request) -> dict[str, Any]:
        return {"status": "ok", "data": request.payload.decode(), "error": None}

    def busy(self, request: Request) -> dict[str, Any]:
        return {"status": "error", "data": request.payload.decode(), "error": {"code": "busy"}}

    def refusal(self, correlation: str, code: str, message: str) -> dict[str, Any]:
        return {"status": "error", "data": None, "error": {"code": code}}


def test_requests_that_arrive_before_the_workers_are_answered_once_they_run() -> None:
    answers: list[tuple[str, str]] = []
    limits = Commands(queue=2, workers=1)
    queue = CommandQueue(AnsweringRouter(), lambda r, a: answers.append(  # type: ignore[arg-type]
        (r.payload.decode(), a["status"])), limits)

    def from_the_mqtt_thread() -> None:
        for n in range(3):
            queue.offer(Request("alarm.list", str(n).encode(), retained=False))

    network = threading.Thread(target=from_the_mqtt_thread)
    network.start()
    network.join()
    assert answers == [("2", "error")]  # past the queue's length: busy, answered at once

    async def run_worker() -> None:
        worker = asyncio.create_task(queue.work(Pulse()))
        for _ in range(100):
            if len(answers) == 3:
                break
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(run_worker())
    assert answers[1:] == [("0", "ok"), ("1", "ok")]
