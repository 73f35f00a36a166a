"""`evscreen watch` on a real terminal (a pty) against a live server."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

from conftest import free_port


def read_pty(fd: int, seconds: float, until: tuple[bytes, ...] = ()) -> bytes:
    """What the program wrote to its terminal: until every one of ``until`` has appeared (at most
    ``seconds``), or for ``seconds`` when ``until`` is empty."""
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and all(needle in out for needle in until)):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


# `evscreen` with SIGINT as a terminal's Ctrl-C finds it. A process inherits an ignored SIGINT,
# and Python then leaves it ignored: a test run started as a background job of a script (nohup,
# `cmd &`: the shell ignores SIGINT for those) would otherwise send its Ctrl-C into the void.
CTRL_C_AS_IN_A_TERMINAL = [
    sys.executable, "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = 'evscreen'; "
    "from evscreen.launch import main; main()",
]


def watch(url: str) -> tuple[subprocess.Popen, int]:
    master, slave = pty.openpty()
    # PYTHONFAULTHANDLER: a program that will not end shows where it is stuck (see stop()).
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen([*CTRL_C_AS_IN_A_TERMINAL, "watch", "--url", url], stdout=slave, stderr=slave,
                            stdin=slave, env=env)
    os.close(slave)
    return proc, master


def stop(proc: subprocess.Popen, master: int, timeout: float = 60) -> bytes:
    """Wait for the process to end, reading its terminal meanwhile (as a terminal would: a full pty
    blocks the program's last writes); return what it wrote. One that does not end within
    ``timeout`` (generous: a loaded machine is slow, not wrong) is made to dump its threads'
    stacks into the output (SIGABRT under PYTHONFAULTHANDLER), then killed."""
    out = b""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        out += read_pty(master, 0.2)
    if proc.poll() is None:
        proc.send_signal(signal.SIGABRT)
        out += read_pty(master, 2)
        proc.kill()
        proc.wait(5)
    out += read_pty(master, 0.2)
    os.close(master)
    return out


def test_watch_shows_live_values_and_quits_on_ctrl_c(live_server):
    server = live_server()
    proc, master = watch(server.url)
    try:
        needles = (b"battery_soc", b"drive_mode", b"simulation simulated", b"km/h")
        screen = read_pty(master, 60, until=needles)
        assert all(needle in screen for needle in needles), screen
    finally:
        proc.send_signal(signal.SIGINT)
        rest = stop(proc, master)
    assert proc.returncode in (0, 130), rest.decode(errors="replace")[-3000:]


def test_watch_waits_for_a_server_that_is_not_there():
    url = f"ws://127.0.0.1:{free_port()}"
    proc, master = watch(url)
    try:
        screen = read_pty(master, 60, until=(b"not reachable", b"retrying"))
        assert b"not reachable" in screen and b"retrying" in screen
        assert b"Traceback" not in screen
    finally:
        proc.kill()
        stop(proc, master)
