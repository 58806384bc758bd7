"""The secrets the test stanzas name, in the environment (as a site would give them)."""

from __future__ import annotations

import pytest

from tests.http_gate.support import ENV


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
