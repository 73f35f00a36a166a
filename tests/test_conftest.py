"""The test harness's own rules (conftest.py): what a test does when a system tool is missing."""

from __future__ import annotations

import shutil

import pytest

from conftest import require_tool

MISSING = "evscreen-no-such-tool"


def test_a_present_tool_is_its_path() -> None:
    assert require_tool("sh", apt="dash") == shutil.which("sh")


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_a_missing_tool_skips_with_the_install_command_outside_ci(monkeypatch: pytest.MonkeyPatch,
                                                                  ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=f"needs {MISSING}: sudo apt-get install some-package"):
        require_tool(MISSING, apt="some-package")


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} is not installed.*sudo apt-get install some-package"):
        require_tool(MISSING, apt="some-package")
