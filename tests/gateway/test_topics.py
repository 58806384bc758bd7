"""Topics are built and parsed in one place; what is built parses back to the same parts."""

from __future__ import annotations

from gateway.topics import ParsedTopic, Topics, parse, site_filter

T = Topics("campus", "no1-primary", "gw1")


def test_built_topics_parse_back() -> None:
    assert parse("campus", T.status) == ParsedTopic("no1-primary", "status", gateway="gw1")
    assert parse("campus", T.event("panic", "io-3")) == ParsedTopic(
        "no1-primary", "event", device="io-3", name="panic")
    assert parse("campus", T.alarm("alm-1")) == ParsedTopic("no1-primary", "alarm", name="alm-1")
    assert parse("campus", T.availability("io-3")) == ParsedTopic(
        "no1-primary", "availability", device="io-3")
    assert parse("campus", T.response("alarm.list")) == ParsedTopic(
        "no1-primary", "response", gateway="gw1", name="alarm.list")


def test_foreign_topics_are_not_ours() -> None:
    assert parse("campus", "other/no1-primary/gateway/gw1/status") is None
    assert parse("campus", "campus/no1-primary/event/panic") is None
    assert parse("campus", "campus/no1-primary/gateway/gw1/status/extra") is None


def test_request_names() -> None:
    assert T.request_name(T.request("alarm.reset")) == "alarm.reset"
    assert T.request_name("campus/no1-primary/gateway/gw2/request/alarm.reset") is None
    assert T.request_name(T.request("alarm.reset") + "/x") is None
    assert T.request_name("campus/no1-primary/gateway/gw1/request/") is None


def test_site_filters() -> None:
    assert site_filter("campus", None) == "campus/+/#"
    assert site_filter("campus", "no1-primary") == "campus/no1-primary/#"
