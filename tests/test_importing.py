"""The lazy ``module:attribute`` registries: every entry resolves, and a bad one says why."""

from __future__ import annotations

import pytest

from evscreen.drivers.base import Source
from evscreen.drivers.registry import SOURCES, load_source_class
from evscreen.errors import SourceUnavailable
from evscreen.importing import import_string
from evscreen.tools.probe import PROBES


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_entry_is_a_source_class(name: str) -> None:
    source_class = load_source_class(name)
    assert issubclass(source_class, Source) and source_class.name == name


@pytest.mark.parametrize("name", PROBES)
def test_every_probe_entry_is_a_function(name: str) -> None:
    assert callable(import_string(PROBES[name]))


@pytest.mark.parametrize(("target", "error", "text"), [
    ("evscreen.drivers.can", ValueError, "not a 'package.module:attribute'"),
    (":CanSource", ValueError, "not a 'package.module:attribute'"),
    ("evscreen.drivers.can:", ValueError, "not a 'package.module:attribute'"),
    ("evscreen.drivers.nowhere:Source", ImportError, "evscreen.drivers.nowhere"),
    ("evscreen.drivers.can:NoSuchSource", ImportError, "evscreen.drivers.can has no NoSuchSource"),
])
def test_bad_references_say_what_is_wrong(target: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        import_string(target)


def test_a_source_whose_module_is_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SOURCES, "can", "evscreen.drivers.no_such_module:CanSource")
    with pytest.raises(SourceUnavailable, match="can unavailable: No module named 'evscreen.drivers.no_such_module'"):
        load_source_class("can")
    with pytest.raises(SourceUnavailable, match="no source named 'warp'"):
        load_source_class("warp")
