"""lxml's ``etree`` for the simulator's modules, in one place: lxml ships no type stubs, so
this is the one import that tells mypy so."""

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["etree"]
