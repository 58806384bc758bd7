"""A refusal reaches the guard in the console's language: every error code and every reason a
refusal can give has its words in both languages, and the gateway's answer names the reason."""

from __future__ import annotations

import pytest

from gateway.alarms import REFUSAL_REASONS
from gateway.commands import ERROR_CODES
from gateway.console.i18n import TEXT


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_error_code_and_refusal_reason_has_its_words(language: str) -> None:
    words = TEXT[language]
    wanted = [f"code_{c}" for c in ERROR_CODES if c != "refused"] + [
        f"why_{r}" for r in REFUSAL_REASONS]
    missing = [key for key in wanted if key not in words]
    assert not missing, f"{language}: {missing}"
