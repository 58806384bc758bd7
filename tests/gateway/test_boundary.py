"""The boundary's checks: size and depth before parsing, device text made safe."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.kernel.boundary import BoundaryError, device_text, json_depth, json_object, parse_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=20)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_depth_is_counted_as_the_document_nests_whatever_its_strings_hold(value: object) -> None:
    assert json_depth(json.dumps(value).encode()) == _depth(value)


def test_a_deep_document_is_refused_before_it_is_parsed() -> None:
    raw = b"[" * 20_000 + b"]" * 20_000
    with pytest.raises(BoundaryError, match="deeper than 32"):
        parse_json(raw, what="request", max_bytes=1 << 20)


def test_an_oversized_document_is_refused_with_its_size() -> None:
    with pytest.raises(BoundaryError, match="is 70 bytes; the limit is 64") as caught:
        parse_json(b" " * 68 + b"{}", what="body", max_bytes=64)
    assert caught.value.status == 413


def test_brackets_inside_strings_do_not_count() -> None:
    assert parse_json(b'{"a": "[[[[[[[[\\"[[[[", "b": [1]}', what="x", max_bytes=100,
                      max_depth=2) == {"a": '[[[[[[[["[[[[', "b": [1]}


def test_no_json_and_no_object_are_told_apart() -> None:
    with pytest.raises(BoundaryError, match="is not JSON"):
        parse_json(b"not json", what="body", max_bytes=100)
    with pytest.raises(BoundaryError, match="must be a JSON object, not list"):
        json_object(b"[1]", what="body", max_bytes=100)


def test_device_text_is_capped_and_its_controls_and_overrides_escaped() -> None:
    assert device_text("1234\u202e5678") == "1234\\u202e5678"
    assert device_text("line\nforged\x1b[31m") == "line\\x0aforged\\x1b[31m"
    assert device_text("门禁 1号") == "门禁 1号"
    capped = device_text("x" * 10_000, limit=16)
    assert len(capped) == 16 and capped.endswith("…")
