"""Fixtures of the OSDP tests: the reader keys in the environment, and running a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from tests.osdp.support import KEYS


@pytest.fixture(autouse=True)
def reader_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return KEYS


@pytest.fixture
def run() -> Callable[..., Any]:
    def runner(coro: Coroutine[Any, Any, Any], timeout: float = 45.0) -> Any:
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner
