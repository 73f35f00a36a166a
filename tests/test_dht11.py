"""The DHT11 source against a stand-in of adafruit-circuitpython-dht (the real one needs a Pi's GPIO).

The stand-in (tests/dht_standin/) reproduces the library's documented behaviour and messages; our
code runs unchanged on top of it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from dht_script import STANDIN_DIR, STANDIN_MODULES, dht11_frame, dht22_frame, write_script
from evscreen.config import load_config
from evscreen.drivers.dht11 import (
    MIN_SPACING_S,
    Dht11Source,
    DhtSampler,
    captured_stdout,
    classify_failure,
    open_sensor,
)
from evscreen.errors import SourceUnavailable
from evscreen.state import VehicleState


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Put the stand-in library on the path; returns a function that writes its script."""
    for name in STANDIN_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(STANDIN_DIR))

    def configure(**script: Any) -> Path:
        script.setdefault("exit_log", str(tmp_path / "exit.log"))
        script.setdefault("measure_log", str(tmp_path / "measure.log"))
        for key, value in write_script(tmp_path / "dht.json", **script).items():
            monkeypatch.setenv(key, value)
        return tmp_path

    yield configure
    for name in STANDIN_MODULES:
        sys.modules.pop(name, None)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_source(clock: ManualClock | None = None, **flags: Any) -> tuple[Dht11Source, VehicleState]:
    config = load_config(env={}, flags={"dht11.enabled": True, **flags}).config
    state = VehicleState(clock=clock) if clock else VehicleState()
    return Dht11Source(config, state), state


# --- the sampler (pure) ------------------------------------------------------------------------


def test_library_messages_are_classified() -> None:
    assert classify_failure("Checksum did not validate. Try again.") == "checksum"
    assert classify_failure("A full buffer was not returned. Try again.") == "incomplete"
    assert classify_failure("DHT sensor not found, check wiring") == "not_found"
    assert classify_failure("Received unplausible data. Try again.") == "implausible"
    assert classify_failure("Timed out waiting for PulseIn message") == "error"


@pytest.mark.parametrize(("model", "t", "h", "accepted"), [
    ("DHT11", 22, 40, True), ("DHT11", 61, 40, False), ("DHT11", -25, 40, False), ("DHT11", 22, 99, False),
    ("DHT11", 22, 2, False), ("DHT22", 61, 40, True), ("DHT22", -35.5, 99.5, True), ("DHT22", 85, 40, False),
    ("DHT22", 0, 0, False),  # an all-zero frame passes the checksum but is a line stuck low
])
def test_implausible_values_are_rejected_per_model(model: str, t: float, h: float, accepted: bool) -> None:
    sampler = DhtSampler(model)
    assert (sampler.add(t, h) is not None) is accepted
    assert sampler.failures["implausible"] == (0 if accepted else 1)


def test_median_hides_a_single_spike_and_follows_a_real_change() -> None:
    sampler = DhtSampler("DHT11", smoothing=3)
    assert sampler.add(22, 40).temperature == 22
    sampler.add(22, 41)
    assert sampler.add(48, 40).temperature == 22  # one wild but plausible read does not show
    assert sampler.add(30, 40).temperature == 30  # two reads agree on a change: it shows
    assert sampler.good == 4 and sampler.success_rate == 1.0


def test_stale_after_repeated_failures_and_fresh_again_after_a_good_read() -> None:
    sampler = DhtSampler("DHT11", stale_after_failures=3)
    sampler.add(22, 40)
    for _ in range(2):
        sampler.fail("Checksum did not validate. Try again.")
    assert not sampler.stale
    sampler.fail("DHT sensor not found, check wiring")
    assert sampler.stale and sampler.consecutive_failures == 3
    assert sampler.current.temperature == 22  # the last good value is kept
    sampler.add(23, 40)
    assert not sampler.stale
    assert sampler.as_dict()["failures"] == {"checksum": 2, "incomplete": 0, "not_found": 1, "implausible": 0,
                                             "error": 0}
    assert sampler.success_rate == pytest.approx(2 / 5)


# --- loading the library: every failure is one clear line, stdout stays clean ------------------


def _assert_one_line(exc: SourceUnavailable, *fragments: str) -> None:
    text = str(exc)
    assert text.startswith("DHT11 unavailable: ")
    assert "\n" not in text and "Traceback" not in text
    for fragment in fragments:
        assert fragment in text


def test_library_not_installed(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SourceUnavailable) as info:
        open_sensor("DHT11", 4)
    _assert_one_line(info.value, "No module named 'adafruit_dht'", "pip install 'evscreen[pi]'")
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize(("script", "cause", "fragments"), [
    ({"import_error": "notimplemented"}, "unsupported_board",
     ["not supported by Blinka", "unable to identify the board"]),
    ({"import_error": "runtime"}, "import_failed", ["RuntimeError: This module can only be run on a Raspberry Pi!"]),
    ({"pins": [2, 3]}, "no_pin", ["this board has no GPIO4 (board.D4)"]),
    ({"construct_error": "pulsein"}, "gpio_helper", ["cannot use GPIO4", "Make sure libgpiod is installed"]),
    ({"construct_error": "permission"}, "permission", ["permission denied on GPIO4", "gpio group"]),
])
def test_import_and_pin_failures(standin: Any, capfd: pytest.CaptureFixture[str], script: dict[str, Any],
                                 cause: str, fragments: list[str]) -> None:
    standin(noise=True, **script)
    with pytest.raises(SourceUnavailable) as info:
        open_sensor("DHT11", 4)
    _assert_one_line(info.value, *fragments)
    assert info.value.cause == cause
    assert capfd.readouterr().out == ""  # the library's chatter (Python and fd 1) was captured


def test_captured_stdout_catches_python_and_c_level_writes(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    with captured_stdout() as text:
        print("from python")
        sys.stdout.flush()
        os.write(1, b"from C\n")
    assert "from python" in text.getvalue() and "from C" in text.getvalue()
    print("after")
    assert capfd.readouterr().out == "after\n"


# --- the source on the stand-in ----------------------------------------------------------------


def _step(source: Dht11Source, clock: ManualClock, adafruit_dht: Any) -> None:
    clock.now += MIN_SPACING_S
    asyncio.run(source.read_and_publish())


def test_source_publishes_smoothed_readings_and_goes_stale_then_recovers(standin: Any) -> None:
    frames = [dht11_frame(22, 40), dht11_frame(22, 40, bad_checksum=True), "incomplete", dht11_frame(24, 42),
              dht11_frame(23, 41), "absent", "absent", "absent", "absent", "absent", dht11_frame(25, 45)]
    standin(frames=frames)
    clock = ManualClock()
    source, state = make_source(clock, **{"dht11.stale_after_failures": 5})
    asyncio.run(source.open())
    import adafruit_dht

    adafruit_dht.clock = clock  # the stand-in's notion of time follows ours; nobody sleeps

    _step(source, clock, adafruit_dht)
    assert (state.get("cabin_temp"), state.get("humidity")) == (22, 40)
    _step(source, clock, adafruit_dht)  # checksum
    _step(source, clock, adafruit_dht)  # incomplete
    assert state.get("cabin_temp") == 22  # failures change nothing on screen
    _step(source, clock, adafruit_dht)
    _step(source, clock, adafruit_dht)
    assert (state.get("cabin_temp"), state.get("humidity")) == (23, 41)  # median of 22, 24, 23
    for _ in range(4):
        _step(source, clock, adafruit_dht)
    assert state.describe_sources()["dht11"]["state"] == "live"
    _step(source, clock, adafruit_dht)  # fifth failure in a row
    described = state.describe_sources()["dht11"]
    assert described["state"] == "stale"
    assert "5 failed reads in a row" in described["detail"] and "check wiring" in described["detail"]
    assert state.get("cabin_temp") == 23  # kept, marked stale
    _step(source, clock, adafruit_dht)
    assert state.describe_sources()["dht11"] == {"state": "live", "age": 0.0}
    assert state.get("cabin_temp") == 24  # median of 24, 23, 25
    assert source.sampler.as_dict()["failures"] == {"checksum": 1, "incomplete": 1, "not_found": 5,
                                                    "implausible": 0, "error": 0}


def test_a_sensor_that_never_answers_is_offline_not_stale(standin: Any) -> None:
    standin(frames=["absent"])
    clock = ManualClock()
    source, state = make_source(clock, **{"dht11.stale_after_failures": 2})
    asyncio.run(source.open())
    import adafruit_dht

    adafruit_dht.clock = clock
    for _ in range(2):
        _step(source, clock, adafruit_dht)
    described = state.describe_sources()["dht11"]
    assert described["state"] == "offline" and "DHT sensor not found" in described["detail"]
    assert state.get("cabin_temp") is None and state.get("humidity") is None


def test_dht22_readings_and_ambient_field(standin: Any) -> None:
    standin(frames=[dht22_frame(-3.5, 87.2)])
    clock = ManualClock()
    source, state = make_source(clock, **{"dht11.model": "DHT22", "dht11.temperature_field": "ambient_temp"})
    asyncio.run(source.open())
    import adafruit_dht

    adafruit_dht.clock = clock
    _step(source, clock, adafruit_dht)
    assert (state.get("ambient_temp"), state.get("humidity"), state.get("cabin_temp")) == (-3.5, 87.2, None)


def test_run_reads_no_faster_than_the_library_allows_and_releases_the_pin(
    standin: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    logs = standin(frames=[dht11_frame(21, 50), dht11_frame(21, 50, bad_checksum=True), dht11_frame(22, 50)],
                   noise=True)
    source, state = make_source()

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        while source.sampler.attempts < 2:  # one good read, then a failed one retried no sooner
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    stamps = [float(x) for x in (logs / "measure.log").read_text().split()]
    assert len(stamps) == 2 and stamps[1] - stamps[0] > 2.0  # the library measured twice, never cached
    assert source.sampler.good == 1 and source.sampler.failures["checksum"] == 1
    assert state.get("cabin_temp") == 21
    assert (logs / "exit.log").read_text() == "exit board.D4\n"
    assert capfd.readouterr().out == ""  # not even exit()'s "De-initializing self.pulse_in"


def test_unavailable_source_is_offline_with_the_reason_and_retries(standin: Any) -> None:
    standin(import_error="notimplemented")
    source, state = make_source()

    async def scenario() -> None:
        task = asyncio.create_task(source.run())
        while source.unavailable is None:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    described = state.describe_sources()["dht11"]
    assert described["state"] == "offline"
    assert described["detail"].startswith("DHT11 unavailable: this board is not supported by Blinka")
