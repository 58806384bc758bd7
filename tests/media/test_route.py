"""``GET /media/<id>`` on the console: a session (any role) or an operator's bearer token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.commands import token_digest
from gateway.config import SiteConfig
from gateway.console import ConsoleOperators, ConsoleParts
from gateway.console.web import COOKIE, build_app
from gateway.media import Media, MediaStore

TOKEN = "op-token-for-the-central-platform"
JPEG = b"\xff\xd8\xff\xe0 a snapshot"


@pytest.fixture
def served(tmp_path: Path) -> tuple[TestClient, MediaStore, str]:
    site = SiteConfig.model_validate({
        "site": {"id": "s1"}, "gateway": {"id": "gw1", "state_dir": str(tmp_path)},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "operators": [{"name": "central", "role": "viewer",
                       "token_sha256": token_digest(TOKEN)}]})
    media = MediaStore(tmp_path / "media", Media(), "http://127.0.0.1:8443")
    unused: Any = None  # the media route reads none of these
    operators = ConsoleOperators(tmp_path / "operators.sqlite3")
    operators.add("viewer1", "viewer", "viewer-password-1")  # a session needs its operator
    parts = ConsoleParts(site, unused, unused, unused, unused, {}, unused, unused, unused,
                         operators, tmp_path / "audit", unused, media)
    app = build_app(parts, secure=False)
    sid, _ = app.state.sessions.open("viewer1", "viewer", "en")
    return TestClient(app), media, sid


def test_a_session_of_any_role_gets_the_bytes_uncached(
        served: tuple[TestClient, MediaStore, str]) -> None:
    client, media, sid = served
    item = media.keep_now("gate-cam", "snapshot", JPEG, "image/jpeg")
    client.cookies.set(COOKIE, sid)
    response = client.get(f"/media/{item.media_id}")
    assert response.status_code == 200
    assert response.content == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"


def test_an_operator_token_gets_it_too(served: tuple[TestClient, MediaStore, str]) -> None:
    client, media, _ = served
    item = media.keep_now("gate-cam", "clip", b"RIFF....AVI ", "video/x-msvideo")
    response = client.get(f"/media/{item.media_id}",
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/x-msvideo"


@pytest.mark.parametrize("authorization", ["", "Bearer wrong-token", f"Basic {TOKEN}",
                                           "Bearer "])
def test_no_session_and_no_right_token_is_refused(
        served: tuple[TestClient, MediaStore, str], authorization: str) -> None:
    client, media, _ = served
    item = media.keep_now("gate-cam", "snapshot", JPEG, "image/jpeg")
    headers = {"Authorization": authorization} if authorization else {}
    client.cookies.set(COOKIE, "not-a-session")
    response = client.get(f"/media/{item.media_id}", headers=headers)
    assert response.status_code == 401
    assert JPEG not in response.content


def test_an_unknown_id_is_404(served: tuple[TestClient, MediaStore, str]) -> None:
    client, _, sid = served
    client.cookies.set(COOKIE, sid)
    for media_id in ("01a23410-0000-7000-8000-000000000000", "..%2Findex.sqlite3", "x"):
        assert client.get(f"/media/{media_id}").status_code == 404
