"""The tasks a part starts in answer to an event: a linkage rule's actions, a siren's write, a
gate's new mode. Kept until done and awaited when the gateway stops; one that fails is handed to
``on_failure`` (the supervisor's ``report``: logged once, counted, shown in the part's health)
instead of vanishing as an exception nobody retrieved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def _logged(part: str, exc: BaseException) -> None:
    log.error("%s: a reaction failed", part, exc_info=exc)


class Reactions:
    def __init__(self, part: str) -> None:
        self.part = part
        self.on_failure: Callable[[str, BaseException], None] = _logged
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.on_failure(self.part, exc)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
