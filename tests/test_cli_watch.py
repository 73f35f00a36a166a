"""`evscreen watch` on a real terminal (a pty) against a live server."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from conftest import evscreen_cmd, free_port


def read_pty(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
            if until is not None and until in out:
                deadline = min(deadline, time.monotonic() + 0.5)  # the rest of this screen
                until = None
    return out


def watch(url: str) -> tuple[subprocess.Popen, int]:
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color"}
    proc = subprocess.Popen(evscreen_cmd("watch", "--url", url), stdout=slave, stderr=slave, stdin=slave, env=env)
    os.close(slave)
    return proc, master


def stop(proc: subprocess.Popen, master: int) -> None:
    """Wait for the process to end, reading its terminal meanwhile (as a terminal would: a full pty
    blocks the program's last writes), and kill it if it does not end."""
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        read_pty(master, 0.2)
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    os.close(master)


def test_watch_shows_live_values_and_quits_on_ctrl_c(live_server):
    server = live_server()
    proc, master = watch(server.url)
    try:
        screen = read_pty(master, 20, until=b"simulation simulated")
        assert b"battery_soc" in screen and b"drive_mode" in screen and b"simulation simulated" in screen
        assert b"km/h" in screen
    finally:
        proc.send_signal(2)
        stop(proc, master)
    assert proc.returncode in (0, 130)


def test_watch_waits_for_a_server_that_is_not_there():
    url = f"ws://127.0.0.1:{free_port()}"
    proc, master = watch(url)
    try:
        screen = read_pty(master, 15, until=b"retrying")
        assert b"not reachable" in screen and b"retrying" in screen
        assert b"Traceback" not in screen
    finally:
        proc.kill()
        stop(proc, master)


def test_watch_screen_fits_the_terminal_without_wrapping(live_server):
    """A real telemetry message at 120 and 80 columns: one header line, each value beside its name."""
    import io
    import re

    from rich.console import Console
    from websockets.sync.client import connect

    from conftest import recv_json
    from evscreen.tools.watch import _fmt, render

    server = live_server()
    with connect(server.url) as ws:
        message = recv_json(ws)
    message["media"]["track_title"] = "A Rather Long Track Title That Would Otherwise Wrap Around"
    for width in (120, 80):
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(render(message, server.url))
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= width
        header = lines[0].rstrip()
        assert server.url in header and message["timestamp"][:19].replace("T", " ") in header
        assert not header.endswith("—") and lines[1].strip() == ""  # one line, nothing dangling
        body = lines[:next(i for i, line in enumerate(lines) if line.startswith("sources:"))]
        for group, values in [("", message), *((k, v) for k, v in message.items() if isinstance(v, dict))]:
            if group == "sources":
                continue
            for key, value in values.items():
                if isinstance(value, dict) or key in ("type", "timestamp"):
                    continue
                line = next(line for line in body if re.search(rf"(?<![\w]){key}(?![\w])", line))
                shown = _fmt(key, value).plain
                assert shown[:20] in line, (width, key, shown, line)
