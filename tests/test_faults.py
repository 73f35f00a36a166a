"""Faults seen from a screen: hardware fails and returns while the server keeps serving.

Each source fails for real (a GPS pty unplugged, a DHT sensor failing its reads); the telemetry's
`sources` says offline or stale with the age, the log says so once, and the source recovers on its
own when the fault ends. (The CAN interface vanishing and the MQTT broker going away are injected
in test_can_source.py and test_mqtt_outage.py, against the real bus and broker.)
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import pytest
from gpsd_check import log_lines
from ptys import PtyReceiver
from websockets.sync.client import connect

from conftest import REALDATA, recv_json, recv_until
from dht_script import STANDIN_DIR, STANDIN_MODULES, dht11_frame, write_script

M8N = log_lines(REALDATA / "nmea" / "neo-m8n.log")


@pytest.fixture
def receiver(tmp_path):
    rx = PtyReceiver(tmp_path / "serial0")
    yield rx
    rx.close()


@pytest.fixture
def dht_standin(tmp_path, monkeypatch):
    for name in STANDIN_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(STANDIN_DIR))

    def configure(**script: Any) -> None:
        for key, value in write_script(tmp_path / "dht.json", **script).items():
            monkeypatch.setenv(key, value)

    yield configure
    for name in STANDIN_MODULES:
        sys.modules.pop(name, None)


def source_state(message: dict[str, Any], name: str) -> str:
    return message["sources"][name]["state"]


def test_gps_unplugged_and_dht_failing_while_screens_keep_their_telemetry(
    receiver: PtyReceiver, dht_standin: Any, live_server: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    # The sensor answers once, then fails twice (checksum, then a cut-off frame), then recovers.
    good = dht11_frame(21, 45)
    dht_standin(frames=[good, dht11_frame(21, 45, bad_checksum=True), "incomplete", dht11_frame(23, 47)])
    receiver.stream(M8N)
    rt = live_server(**{"simulation.mode": "off", "gps.enabled": True, "gps.port": receiver.path,
                        "dht11.enabled": True, "dht11.stale_after_failures": 2, "dht11.smoothing": 1})
    # Every message is kept: the DHT11's faults happen on their own clock, during the GPS's or
    # after, and the screen must have seen each of its states in order either way.
    seen: list[dict[str, Any]] = []

    def until(ws: Any, predicate: Any, timeout: float) -> dict[str, Any]:
        return recv_until(ws, lambda m: seen.append(m) or predicate(m), timeout=timeout)

    def first_since(ws: Any, start: int, predicate: Any, timeout: float) -> tuple[int, dict[str, Any]]:
        for index in range(start, len(seen)):
            if predicate(seen[index]):
                return index, seen[index]
        message = until(ws, predicate, timeout)
        return len(seen) - 1, message

    with caplog.at_level(logging.INFO), connect(rt.url) as ws:
        live = until(ws, lambda m: source_state(m, "gps") == "live" and m["gps"]["latitude"] is not None
                     and m["gps"]["satellites"], timeout=20)
        assert live["gps"]["satellites"] > 0

        receiver.unplug()
        offline = until(ws, lambda m: source_state(m, "gps") == "offline", timeout=15)
        # No stale or invented position while the receiver is gone.
        assert offline["gps"]["latitude"] is None and offline["sources"]["gps"]["age"] is not None
        unplugged_at = time.monotonic()
        ticks = 0
        while time.monotonic() - unplugged_at < 3.0:  # the server keeps its rate meanwhile
            seen.append(recv_json(ws))
            assert seen[-1]["type"] == "telemetry"
            ticks += 1
        assert ticks > 10

        receiver.plug()
        receiver.stream(M8N)
        plugged_at = time.monotonic()
        back = until(ws, lambda m: source_state(m, "gps") == "live" and m["gps"]["latitude"] is not None
                     and m["gps"]["satellites"], timeout=20)
        recovered_in = time.monotonic() - plugged_at

        # Meanwhile the DHT11: a reading, two failures -> stale (the value kept), then fresh again.
        at, stale = first_since(ws, 0, lambda m: source_state(m, "dht11") == "stale", timeout=30)
        assert stale["cabin_temp"] == 21 and stale["humidity"] == 45
        _, fresh = first_since(ws, at + 1, lambda m: source_state(m, "dht11") == "live" and m["cabin_temp"] == 23,
                               timeout=30)
        assert fresh["humidity"] == 47
    assert back["gps"]["satellites"] > 0 and recovered_in < 15
    gps_lines = [r.getMessage() for r in caplog.records if r.name.startswith("evscreen.drivers.gps")
                 and r.levelno >= logging.WARNING]
    # The fault is told once, not once per retry.
    assert 1 <= len(gps_lines) <= 2, gps_lines
