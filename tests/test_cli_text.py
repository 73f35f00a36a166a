"""Text that reaches the terminal is shown as written: rich must not eat ``[...]`` as markup.

Each test runs the real ``evscreen`` program (the fast can-dump path and the typer CLI alike) on
input whose text holds square brackets, and looks for that text on stdout or stderr.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import evscreen_cmd
from evscreen.tools.watch import render


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Wide enough that rich wraps no line of these short messages.
    return subprocess.run(evscreen_cmd(*args), capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_config_error_keeps_the_section_in_brackets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[server]\nprot = 1\n", encoding="utf-8")
    result = run("config", "show", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: server.prot: unknown key (allowed in [server]: host, port,")
    assert len(result.stderr.strip().splitlines()) == 1


def test_can_dump_missing_log_keeps_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "[x]" / "nope.log"
    result = run("can-dump", "--file", str(missing))  # the fast path (launch.py)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: log file not found"


def test_missing_dbc_keeps_the_path(tmp_path: Path) -> None:
    log = tmp_path / "drive.log"
    log.write_text("(0.000000) can0 123#00\n", encoding="ascii")
    missing = tmp_path / "[bold]" / "car.dbc"
    result = run("can-dump", "--file", str(log), "--dbc", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: DBC file not found"


def test_simulate_unwritable_output_keeps_the_path(tmp_path: Path) -> None:
    target = tmp_path / "[red]" / "drive.log"  # the folder does not exist
    result = run("simulate", "--duration", "1", "--output", str(target))
    assert result.returncode == 2
    assert f"{target}" in result.stderr, result.stderr
    assert result.stderr.startswith("error: --output: cannot write ")


def test_config_show_prints_values_and_path_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "[red]"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text('[server]\ntls_cert = "/etc/[x]/cert.pem"\n', encoding="utf-8")
    result = run("config", "show", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout
    assert '"/etc/[x]/cert.pem"' in result.stdout


def test_probe_readings_are_shown_as_written(tmp_path: Path) -> None:
    device = tmp_path / "[x]" / "ttyUSB0"
    result = run("probe", "gps", "--device", str(device), "--duration", "5")
    assert result.returncode == 1
    reading = next(line for line in result.stdout.splitlines() if line.strip().startswith("source"))
    assert str(device) in reading


def test_can_dump_table_title_keeps_the_file_name(tmp_path: Path) -> None:
    log = tmp_path / "[drive]" / "drive.log"
    log.parent.mkdir()
    written = run("simulate", "--duration", "2", "--output", str(log))  # evscreen's own car and DBC
    assert written.returncode == 0, written.stderr
    result = run("can-dump", "--file", str(log), "--format", "table", "--count", "5", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    assert str(log) in result.stdout.splitlines()[0]


def test_watch_shows_the_url_and_keys_as_written() -> None:
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    console.print(render({"type": "telemetry", "timestamp": "t0", "[speed]": 1.5, "[group]": {"[a]": 1}},
                         "ws://[::1]:8765/[x]"))
    text = console.export_text()
    assert "ws://[::1]:8765/[x]" in text
    assert "[speed]" in text and "[group]" in text and "[a]" in text
