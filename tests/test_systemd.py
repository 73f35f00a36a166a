"""systemd: sd_notify over a real AF_UNIX datagram socket, the unit file, journald log lines."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from websockets.sync.client import connect

from conftest import ServeProcess, evscreen_cmd, recv_json


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    yield sock, str(path)
    sock.close()


def read_until(sock, needle: str, timeout: float = 10) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = sock.recv(4096).decode()
        seen.append(data)
        if needle in data:
            return seen
    raise AssertionError(f"{needle} not received; got {seen}")


def test_ready_status_watchdog_stopping(notify_socket, port):
    sock, path = notify_socket
    server = ServeProcess(port, "--simulation", "on",
                          env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}).start()
    try:
        ready = read_until(sock, "READY=1")[-1]
        assert "STATUS=" in ready and f"ws://127.0.0.1:{port}" in ready
        # The server is listening by the time READY=1 is sent.
        with connect(server.url) as ws:
            assert recv_json(ws)["type"] == "telemetry"
        pings = [m for m in read_until(sock, "WATCHDOG=1") if "WATCHDOG=1" in m]
        assert pings
        started = time.monotonic()
        read_until(sock, "WATCHDOG=1")
        assert time.monotonic() - started < 1.0  # half of WATCHDOG_USEC, with room for a busy machine
        server.proc.send_signal(signal.SIGTERM)
        read_until(sock, "STOPPING=1")
        assert server.proc.wait(10) == 0
    finally:
        server.stop()


def test_abstract_socket_and_no_socket(port):
    name = f"evscreen-test-{os.getpid()}-{port}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    server = ServeProcess(port, "--simulation", "on", env={"NOTIFY_SOCKET": "@" + name}).start()
    try:
        assert "READY=1" in read_until(sock, "READY=1")[-1]
    finally:
        server.stop()
        sock.close()
    from evscreen.host.sd_notify import Notifier

    quiet = Notifier({})
    assert not quiet.enabled
    quiet.ready("x")  # no socket: nothing happens, nothing raises


def test_journald_lines_have_priorities_and_no_timestamps(port):
    server = ServeProcess(port, "--simulation", "on", env={"JOURNAL_STREAM": "8:12345"}).start()
    code, err = server.stop()
    lines = [line for line in err.splitlines() if line]
    assert code == 0 and lines
    assert all(line.startswith("<") and line[2] == ">" for line in lines), lines[:3]
    assert any(line.startswith("<6>evscreen.app: evscreen") for line in lines)
    assert not any(line[3:7].isdigit() for line in lines)  # no "2026-..." of our own


def test_readable_timestamps_elsewhere(port):
    server = ServeProcess(port, "--simulation", "on").start()
    _, err = server.stop()
    assert err.splitlines()[0][:4].isdigit()


def run(*args, env=None):
    return subprocess.run(evscreen_cmd(*args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)")
@pytest.mark.parametrize("user_mode", [False, True])
def test_unit_passes_systemd_analyze_verify(tmp_path, user_mode):
    args = ("service", "install", "--print") + (("--user",) if user_mode else ())
    result = run(*args)
    assert result.returncode == 0
    unit = result.stdout
    for needle in ("Type=notify", "WatchdogSec=", "Restart=always", "NoNewPrivileges=yes", "ExecStart=/"):
        assert needle in unit
    if not user_mode:
        for needle in ("ProtectSystem=strict", "PrivateTmp=yes", "ReadWritePaths=",
                       "SupplementaryGroups=gpio dialout bluetooth"):
            assert needle in unit
    path = tmp_path / "evscreen.service"
    path.write_text(unit)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(["systemd-analyze"] + (["--user"] if user_mode else []) + ["verify", str(path)],
                            capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stdout + verify.stderr
    # ExecStart names an executable that runs this installation.
    command = next(line for line in unit.splitlines() if line.startswith("ExecStart=")).split("=", 1)[1].split()
    version = subprocess.run([*command[:-1], "--version"] if command[-1] == "serve" else command,
                             capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("evscreen ")


def test_user_unit_install_writes_and_refuses_overwrite(isolated_dirs):
    first = run("service", "install", "--user")
    assert first.returncode == 0, first.stderr
    unit = isolated_dirs / "config" / "systemd" / "user" / "evscreen.service"
    assert unit.is_file() and "Type=notify" in unit.read_text()
    assert "systemctl --user enable --now evscreen" in first.stdout
    again = run("service", "install", "--user")
    assert again.returncode == 2 and "--force" in again.stderr
    assert run("service", "install", "--user", "--force").returncode == 0
