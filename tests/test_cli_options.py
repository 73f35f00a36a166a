"""Every command's options, read from the CLI itself (click introspection): one meaning per flag."""

from __future__ import annotations

import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import typer.main

from conftest import evscreen_cmd
from evscreen.cli import app


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    yield " ".join(("evscreen", *path)), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, (*path, name))


def options(command: Any) -> Iterator[tuple[list[str], list[str]]]:
    """(short flags, long flags) of each option, hidden ones included."""
    for param in command.params:
        names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        if getattr(param, "param_type_name", "") == "option":
            yield [n for n in names if not n.startswith("--")], [n for n in names if n.startswith("--")]


def test_every_short_flag_has_one_meaning_across_the_cli() -> None:
    meanings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    everything = dict(commands(typer.main.get_command(app)))
    # can-dump parses its own options; they must be visible here all the same.
    assert {"--bus", "--message", "--count", "--interface"} <= {
        long for _, longs in options(everything["evscreen can-dump"]) for long in longs}
    for where, command in everything.items():
        for shorts, longs in options(command):
            for short in shorts:
                meanings[short]["/".join(sorted(longs))].append(where)
    clashes = {short: dict(uses) for short, uses in meanings.items() if len(uses) > 1}
    assert not clashes, f"short flags with more than one meaning: {clashes}"
    assert meanings["-c"].keys() == {"--config"} and meanings["-f"].keys() == {"--force"}


def test_the_gps_device_is_device_and_port_is_only_a_tcp_port() -> None:
    everything = dict(commands(typer.main.get_command(app)))
    probe = everything["evscreen probe"]
    visible = {long for param in probe.params if not getattr(param, "hidden", False)
               for long in getattr(param, "opts", [])}
    assert "--device" in visible and "--port" not in visible
    out = subprocess.run(evscreen_cmd("probe", "gps", "--port", "/dev/ttyUSB0"), capture_output=True, text=True,
                         timeout=60, env=os.environ)
    assert out.returncode == 2 and "--device /dev/ttyUSB0" in out.stderr and "Traceback" not in out.stderr
