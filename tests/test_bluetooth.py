"""The Bluetooth source driven over real D-Bus: a private dbus-daemon and a fake org.bluez on it.

Nothing of evscreen's is replaced: the source connects to "the system bus" (the private daemon,
through ``DBUS_SYSTEM_BUS_ADDRESS``), reads the fake's objects and signals and calls its methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

# BlueZ exists on Linux only: elsewhere dbus-fast is not installed and there is no dbus-daemon.
pytest.importorskip("dbus_fast", reason="dbus-fast is a Linux-only dependency")
if shutil.which("dbus-daemon") is None:
    pytest.skip("needs dbus-daemon (Debian package dbus)", allow_module_level=True)

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from evscreen.config import Config
from evscreen.drivers.bluetooth import source as bt
from evscreen.drivers.bluetooth.source import BluetoothSource, probe_bluetooth
from evscreen.errors import CommandFailed
from evscreen.state import VehicleState
from fake_bluez import (
    DENY_BLUEZ,
    PLAYLIST,
    FakeBluez,
    HostilePlayer,
    PrivateBus,
    device_path,
    fake_bluez_on,
    private_system_bus,
)

PHONE = "AC:37:43:A1:B2:C3"
PHONE_PATH = device_path("hci0", PHONE)
PLAYER_PATH = f"{PHONE_PATH}/player0"

TEARDROP = {
    "media.connected": True, "media.device_name": "Pixel 7", "media.track_title": "Teardrop",
    "media.track_artist": "Massive Attack", "media.duration": 330.0, "media.is_playing": True,
    "connectivity.bluetooth": True,
}
NOT_CONNECTED = {
    "media.connected": False, "media.device_name": None, "media.track_title": None, "media.track_artist": None,
    "media.duration": None, "media.position": None, "media.is_playing": None, "connectivity.bluetooth": False,
}


@pytest.fixture
def system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    yield from private_system_bus(monkeypatch)


@pytest.fixture
def bluez(system_bus: PrivateBus) -> Iterator[FakeBluez]:
    yield from fake_bluez_on(system_bus)


def media(state: VehicleState) -> dict[str, Any]:
    return {k: v for k, v in state.values().items() if k.startswith(("media.", "connectivity.bluetooth"))}


def without_position(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "media.position"}


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait until ``check()`` is truthy (it is re-evaluated as signals arrive); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(config: Config | None = None) -> AsyncIterator[tuple[BluetoothSource, VehicleState]]:
    state = VehicleState()
    source = BluetoothSource(config or Config(), state)
    task = asyncio.create_task(source.run())
    try:
        yield source, state
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()


def online(source: BluetoothSource, state: VehicleState) -> bool:
    return source.problem is None and state.describe_sources()["bluetooth"]["state"] == "live"


async def fails(coro: Any) -> CommandFailed:
    with pytest.raises(CommandFailed) as info:
        await coro
    return info.value


# -- discovery and telemetry -----------------------------------------------------------------


def test_discovery_reads_adapter_phone_player_and_transport(bluez: FakeBluez) -> None:
    bluez.add_phone(position_ms=61_500)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            assert without_position(media(state)) == TEARDROP
            assert 61.5 <= state.get("media.position") < 330.0  # 61.5 s, plus the time it has been playing
            view = source.view
            assert (view.adapter_address, view.device_address, view.player_path) == (
                "B8:27:EB:00:00:01", PHONE, PLAYER_PATH)
            assert view.volume == round(100 / 127, 3)

    asyncio.run(scenario())


def test_track_and_status_changes_arrive_as_signals(bluez: FakeBluez) -> None:
    _, _, player, _ = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.track_title") == "Teardrop")
            bluez.do(player.update, Track=PLAYLIST[2], Position=12_000, Status="paused")
            await eventually(lambda: state.get("media.track_title") == "Hyperballad")
            assert (state.get("media.track_artist"), state.get("media.duration")) == ("Björk", 321.0)
            assert (state.get("media.position"), state.get("media.is_playing")) == (12.0, False)
            bluez.do(player.update, Status="playing")
            await eventually(lambda: state.get("media.is_playing") is True)

    asyncio.run(scenario())


def test_devices_and_players_appearing_later_are_picked_up(bluez: FakeBluez) -> None:
    adapter = bluez.add_adapter()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            assert media(state) == NOT_CONNECTED
            device = bluez.add_device(adapter, connected=True)
            await eventually(lambda: state.get("media.connected") is True)
            assert (state.get("media.device_name"), state.get("media.track_title")) == ("Pixel 7", None)
            bluez.add_player(device, track_index=1)
            await eventually(lambda: state.get("media.track_title") == "Windowlicker")

    asyncio.run(scenario())


def test_player_and_device_disappearing_null_the_media_fields(bluez: FakeBluez) -> None:
    _, device, player, transport = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.track_title") == "Teardrop")
            bluez.unexport(player)
            await eventually(lambda: state.get("media.track_title") is None)
            assert media(state) == {**NOT_CONNECTED, "media.connected": True, "media.device_name": "Pixel 7",
                                    "connectivity.bluetooth": True}
            assert (await fails(source.media.play())).code == "unavailable"
            bluez.unexport(transport)
            bluez.unexport(device)
            await eventually(lambda: state.get("media.connected") is False)
            assert media(state) == NOT_CONNECTED
            assert online(source, state)

    asyncio.run(scenario())


def test_phone_disconnecting_reads_as_not_connected(bluez: FakeBluez) -> None:
    _, device, _, _ = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.connected") is True)
            bluez.do(device.update, Connected=False)
            await eventually(lambda: state.get("media.connected") is False)
            assert media(state) == NOT_CONNECTED

    asyncio.run(scenario())


def test_adapter_powered_off(bluez: FakeBluez) -> None:
    adapter, _, _, _ = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("connectivity.bluetooth") is True)
            bluez.do(adapter.update, Powered=False)
            await eventually(lambda: state.get("connectivity.bluetooth") is False)
            assert state.describe_sources()["bluetooth"]["detail"] == "adapter hci0 is powered off"
            failure = await fails(source.bluetooth.connect(PHONE))
            assert failure.code == "unavailable" and "powered off" in str(failure)

    asyncio.run(scenario())


# -- commands --------------------------------------------------------------------------------


def test_each_media_command_reaches_the_player(bluez: FakeBluez) -> None:
    bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            for command, member in ((source.media.pause, "Pause"), (source.media.play, "Play"),
                                    (source.media.next_track, "Next"), (source.media.previous_track, "Previous")):
                await command()
                assert bluez.calls[-1] == (PLAYER_PATH, "org.bluez.MediaPlayer1", member)
            await eventually(lambda: state.get("media.track_title") == "Teardrop")  # next, then previous
            assert [c[2] for c in bluez.calls] == ["Pause", "Play", "Next", "Previous"]

    asyncio.run(scenario())


def test_player_errors_come_back_with_bluez_text(bluez: FakeBluez) -> None:
    _, _, player, _ = bluez.add_phone()
    player.error = ("org.bluez.Error.NotSupported", "Operation is not supported")

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            failure = await fails(source.media.next_track())
            assert failure.code == "unavailable"
            assert "MediaPlayer1.Next failed: org.bluez.Error.NotSupported: Operation is not supported" in str(failure)

    asyncio.run(scenario())


def test_set_volume_maps_to_0_127(bluez: FakeBluez) -> None:
    _, _, _, transport = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            for volume, level in ((0.0, 0), (0.25, 32), (0.5, 64), (1.0, 127)):
                await source.media.set_volume(volume)
                assert bluez.calls[-1] == (transport.path, "org.bluez.MediaTransport1", "Set Volume", level)
                assert transport._Volume == level
            await eventually(lambda: source.objects.view("hci0", 0).volume == 1.0)

    asyncio.run(scenario())


def test_set_volume_without_remote_volume_is_unavailable(bluez: FakeBluez) -> None:
    adapter = bluez.add_adapter()
    device = bluez.add_device(adapter)
    bluez.add_player(device)
    bluez.add_transport(device, volume=None)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            failure = await fails(source.media.set_volume(0.5))
            assert failure.code == "unavailable" and "remote volume" in str(failure)
            assert bluez.calls == []

    asyncio.run(scenario())


def test_media_commands_without_a_phone_are_unavailable(bluez: FakeBluez) -> None:
    bluez.add_adapter()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            for command in (source.media.play(), source.media.pause(), source.media.set_volume(0.3)):
                failure = await fails(command)
                assert (failure.code, str(failure)) == ("unavailable", "no phone is connected over Bluetooth")

    asyncio.run(scenario())


def test_connect_a_known_device(bluez: FakeBluez) -> None:
    adapter = bluez.add_adapter()
    device = bluez.add_device(adapter, connected=False)
    bluez.add_player(device)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            assert state.get("media.connected") is False
            await source.bluetooth.connect(PHONE.lower())
            assert bluez.calls == [(PHONE_PATH, "org.bluez.Device1", "Connect")]
            await eventually(lambda: state.get("media.connected") is True)
            assert state.get("media.track_title") == "Teardrop"
            await source.bluetooth.connect(PHONE)  # AlreadyConnected from BlueZ: nothing to do
            assert len(bluez.calls_to("Connect")) == 2

    asyncio.run(scenario())


def test_connect_an_unknown_device_is_invalid_value(bluez: FakeBluez) -> None:
    bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            failure = await fails(source.bluetooth.connect("00:11:22:33:44:55"))
            assert failure.code == "invalid_value"
            assert str(failure) == ("00:11:22:33:44:55 is not a device known to hci0; pair it first "
                                    "(`bluetoothctl pair 00:11:22:33:44:55`)")
            assert bluez.calls == []

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (("org.bluez.Error.Failed", "br-connection-refused"), "unavailable"),
        (("org.bluez.Error.Failed", "Host is down"), "unavailable"),
        (("org.bluez.Error.NotReady", "Resource Not Ready"), "unavailable"),
        (("org.bluez.Error.InProgress", "In Progress"), "unavailable"),
        (("org.bluez.Error.DoesNotExist", "Does Not Exist"), "invalid_value"),
    ],
)
def test_connect_failures_keep_bluez_error_text(bluez: FakeBluez, error: tuple[str, str], code: str) -> None:
    adapter = bluez.add_adapter()
    device = bluez.add_device(adapter, connected=False)
    device.connect_error = error

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            failure = await fails(source.bluetooth.connect(PHONE))
            assert failure.code == code
            assert str(failure).startswith(f"connecting {PHONE} failed: {error[0]}: {error[1]}")
            assert state.get("media.connected") is False

    asyncio.run(scenario())


def test_connect_that_bluez_does_not_answer_in_time(bluez: FakeBluez) -> None:
    adapter = bluez.add_adapter()
    device = bluez.add_device(adapter, connected=False)
    device.connect_delay = 30.0
    config = Config()
    config.bluetooth.connect_timeout = 0.2

    async def scenario() -> None:
        async with running(config) as (source, state):
            await eventually(lambda: online(source, state))
            failure = await fails(source.bluetooth.connect(PHONE))
            assert (failure.code, str(failure)) == (
                "unavailable", f"connecting {PHONE} failed: bluetoothd did not answer within 0.2 s")
            assert bluez.calls_to("Connect")
            bluez.add_player(bluez.add_device(adapter, "00:11:22:33:44:55", "Other phone", connected=True))
            await eventually(lambda: state.get("media.device_name") == "Other phone")  # still listening
            await source.media.pause()

    asyncio.run(scenario())


# -- where Bluetooth is not available --------------------------------------------------------


def test_no_bus_at_all_is_offline_with_one_log_line_and_unavailable_commands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")
    monkeypatch.setattr(bt, "BACKOFF_FIRST_S", 0.01)
    attempts: list[int] = []
    real_connect = bt.connect_system_bus

    async def counted() -> Any:
        attempts.append(1)
        return await real_connect()

    monkeypatch.setattr(bt, "connect_system_bus", counted)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: len(attempts) >= 3)  # it keeps retrying
            status = state.describe_sources()["bluetooth"]
            assert status["state"] == "offline"
            assert status["detail"].startswith("Bluetooth unavailable: cannot reach the D-Bus system bus at unix:path=")
            assert media(state) == {}  # nothing is known, nothing is invented
            for command in (source.media.play(), source.media.set_volume(0.5), source.bluetooth.connect(PHONE)):
                failure = await fails(command)
                assert failure.code == "unavailable" and "cannot reach the D-Bus system bus" in str(failure)

    with caplog.at_level(logging.WARNING, logger="evscreen.drivers.bluetooth.source"):
        asyncio.run(scenario())
    assert len([r for r in caplog.records if r.name == "evscreen.drivers.bluetooth.source"]) == 1
    assert "retrying with backoff" in caplog.records[0].getMessage()


def test_without_dbus_fast_the_source_is_offline_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    # What Windows and macOS look like: dbus-fast is not installed there (environment marker).
    for name in [m for m in sys.modules if m == "dbus_fast" or m.startswith("dbus_fast.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dbus_fast", None)

    async def scenario() -> None:
        state = VehicleState()
        source = BluetoothSource(Config(), state)
        await asyncio.wait_for(source.run(), 5)  # returns: retrying cannot install a library
        assert source.library_missing
        assert "dbus-fast is not installed" in state.describe_sources()["bluetooth"]["detail"]
        failure = await fails(source.media.play())
        assert failure.code == "unavailable" and "dbus-fast is not installed" in str(failure)

    asyncio.run(scenario())


def test_the_module_imports_without_dbus_fast() -> None:
    code = ("import sys; sys.modules['dbus_fast'] = None\n"
            "from evscreen.drivers.registry import load_source_class\n"
            "print(load_source_class('bluetooth').__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "BluetoothSource", "")


def test_no_bluetoothd_then_it_starts(system_bus: PrivateBus) -> None:
    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: source.problem and "bluetoothd is not running" in source.problem)
            assert state.describe_sources()["bluetooth"]["state"] == "offline"
            assert media(state) == NOT_CONNECTED
            assert (await fails(source.media.play())).code == "unavailable"
            fake = await asyncio.to_thread(lambda: FakeBluez(system_bus.address).start())
            try:
                await asyncio.to_thread(fake.add_phone)
                await eventually(lambda: state.get("media.track_title") == "Teardrop")
                assert online(source, state)
            finally:
                await asyncio.to_thread(fake.stop)

    asyncio.run(scenario())


def test_bluetoothd_exiting_and_restarting(system_bus: PrivateBus, bluez: FakeBluez) -> None:
    bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.connected") is True)
            await asyncio.to_thread(bluez.stop)
            await eventually(lambda: state.get("media.connected") is False)
            assert media(state) == NOT_CONNECTED
            assert "bluetoothd is not running" in state.describe_sources()["bluetooth"]["detail"]
            restarted = await asyncio.to_thread(lambda: FakeBluez(system_bus.address).start())
            try:
                _, _, player, _ = await asyncio.to_thread(restarted.add_phone, track_index=1)
                await eventually(lambda: state.get("media.track_title") == "Windowlicker")
                await source.media.pause()
                assert restarted.calls == [(player.path, "org.bluez.MediaPlayer1", "Pause")]
            finally:
                await asyncio.to_thread(restarted.stop)

    asyncio.run(scenario())


def test_the_bus_itself_going_away(system_bus: PrivateBus, bluez: FakeBluez, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    bluez.add_phone()
    monkeypatch.setattr(bt, "BACKOFF_FIRST_S", 0.01)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.track_title") == "Teardrop")
            await asyncio.to_thread(system_bus.stop)
            await eventually(lambda: source.problem and "cannot reach the D-Bus system bus" in source.problem)
            assert state.describe_sources()["bluetooth"]["state"] == "offline"
            assert (await fails(source.media.play())).code == "unavailable"
            retries = source.reconnects
            await eventually(lambda: source.reconnects >= retries + 3)

    with caplog.at_level(logging.WARNING, logger="evscreen.drivers.bluetooth.source"):
        asyncio.run(scenario())
    # Depending on the order the dying daemon tells us things, bluetoothd vanishes first or not;
    # either way each fault is one line, not one per retry.
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(set(messages)) and any("lost the connection" in m for m in messages)


def test_no_adapter_then_one_is_plugged_in(bluez: FakeBluez) -> None:
    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: source.problem and "no Bluetooth adapter hci0" in source.problem)
            assert state.describe_sources()["bluetooth"]["state"] == "offline"
            assert (await fails(source.bluetooth.connect(PHONE))).code == "unavailable"
            await asyncio.to_thread(bluez.add_phone)
            await eventually(lambda: online(source, state) and state.get("media.connected") is True)

    asyncio.run(scenario())


def test_configured_adapter_missing_names_the_ones_present(bluez: FakeBluez) -> None:
    bluez.add_phone()
    config = Config()
    config.bluetooth.adapter = "hci1"

    async def scenario() -> None:
        async with running(config) as (source, state):
            await eventually(lambda: source.problem and "hci1" in source.problem)
            assert source.problem == ("Bluetooth unavailable: no Bluetooth adapter hci1 "
                                      "(BlueZ has hci0: set bluetooth.adapter)")
            assert media(state) == NOT_CONNECTED  # hci0's phone is not hci1's

    asyncio.run(scenario())


def test_not_allowed_to_talk_to_bluez(monkeypatch: pytest.MonkeyPatch) -> None:
    # BlueZ's D-Bus policy lets only root and the bluetooth group call org.bluez.
    bus = PrivateBus(extra_policy=DENY_BLUEZ).start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    fake = FakeBluez(bus.address).start()
    try:
        fake.add_phone()

        async def scenario() -> None:
            async with running() as (source, state):
                await eventually(lambda: source.problem is not None and "AccessDenied" in source.problem)
                assert state.describe_sources()["bluetooth"]["state"] == "offline"
                assert any("bluetooth group" in a for a in source.report()["advice"])
                assert (await fails(source.media.play())).code == "unavailable"

        asyncio.run(scenario())
    finally:
        fake.stop()
        bus.stop()


# -- hostile data from the bus ---------------------------------------------------------------


def test_wrong_types_and_missing_keys_in_signals_do_not_crash_the_source(bluez: FakeBluez) -> None:
    _, device, player, _ = bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: state.get("media.track_title") == "Teardrop")
            bluez.properties_changed(PLAYER_PATH, "org.bluez.MediaPlayer1", {
                "Track": Variant("a{sv}", {"Title": Variant("u", 7), "Artist": Variant("as", ["a", "b"]),
                                           "Duration": Variant("s", "long")}),
                "Status": Variant("i", 3),
                "Position": Variant("s", "soon"),
            })
            await eventually(lambda: state.get("media.track_title") is None)
            assert (state.get("media.track_artist"), state.get("media.duration"), state.get("media.position"),
                    state.get("media.is_playing")) == (None, None, None, None)
            bluez.properties_changed(PLAYER_PATH, "org.bluez.MediaPlayer1", {
                "Track": Variant("a{sv}", {"Title": Variant("s", "Only a title " + "x" * 10_000)})})
            await eventually(lambda: (state.get("media.track_title") or "").startswith("Only a title"))
            assert len(state.get("media.track_title")) == 256 and state.get("media.track_artist") is None
            bluez.properties_changed(PLAYER_PATH, "org.bluez.MediaPlayer1", {"Track": Variant("s", "not a dict")})
            bluez.properties_changed(PHONE_PATH, "org.bluez.Device1", {"Connected": Variant("s", "yes")})
            await eventually(lambda: state.get("media.connected") is False)  # "yes" is not true
            # Signals of the right name but the wrong shape, and for objects nobody announced:
            bluez.emit("/", "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "s", ["garbage"])
            bluez.emit("/", "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "oas", ["/nowhere", ["x.y"]])
            bluez.emit("/", "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}",
                       ["/org/bluez/hci0/dev_00", {"org.bluez.Device1": {"Connected": Variant("ay", b"\x01")}}])
            bluez.emit(PLAYER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}", [
                "org.bluez.MediaPlayer1", {"Status": Variant("s", "playing")}])
            bluez.properties_changed("/org/bluez/hci0/dev_FF", "org.bluez.Device1", {"Connected": Variant("b", True)})
            # ...and then a valid change still arrives: the source survived all of it.
            bluez.do(device.update, Connected=True)
            bluez.do(player.update, Track=PLAYLIST[1])
            await eventually(lambda: state.get("media.track_title") == "Windowlicker")
            assert state.get("media.connected") is True and online(source, state)

    asyncio.run(scenario())


def test_wrong_types_in_the_initial_objects_do_not_crash_the_source(bluez: FakeBluez) -> None:
    adapter = bluez.add_adapter()
    bluez.add_device(adapter)
    bluez.export(HostilePlayer(bluez, PLAYER_PATH, PHONE_PATH))

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            assert media(state) == {**NOT_CONNECTED, "media.connected": True, "media.device_name": "Pixel 7",
                                    "connectivity.bluetooth": True}
            failure = await fails(source.media.play())  # this "player" has no Play method
            assert failure.code == "unavailable" and "org.freedesktop.DBus.Error.UnknownMethod" in str(failure)
    asyncio.run(scenario())


def test_signals_from_anyone_but_bluetoothd_are_ignored(system_bus: PrivateBus, bluez: FakeBluez) -> None:
    _, _, player, _ = bluez.add_phone()

    async def scenario() -> None:
        rogue = await MessageBus(bus_address=system_bus.address).connect()
        try:
            async with running() as (source, state):
                await eventually(lambda: state.get("media.track_title") == "Teardrop")
                await rogue.send(Message.new_signal(PLAYER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                                    "sa{sv}as", ["org.bluez.MediaPlayer1", {"Track": Variant("a{sv}", {
                                                        "Title": Variant("s", "Injected")})}, []]))
                await rogue.send(Message.new_signal("/", "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                                    "oas", [PHONE_PATH, ["org.bluez.Device1"]]))
                bluez.do(player.update, Track=PLAYLIST[1])  # sent after the rogue's, so it arrives after
                await eventually(lambda: state.get("media.track_title") == "Windowlicker")
                assert state.get("media.connected") is True
        finally:
            rogue.disconnect()

    asyncio.run(scenario())


def test_signals_around_the_initial_load_keep_their_order(bluez: FakeBluez) -> None:
    _, _, player, _ = bluez.add_phone(status="playing")

    def before() -> None:  # stale by the time the reply is built: the reply says "playing"
        bluez.send(PLAYER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                   ["org.bluez.MediaPlayer1", {"Status": Variant("s", "paused")}, []])

    def after() -> None:  # newer than the reply: must not be lost under it
        player._Track = PLAYLIST[2]
        bluez.send(PLAYER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                   ["org.bluez.MediaPlayer1", {"Track": Variant("a{sv}", PLAYLIST[2])}, []])

    bluez.around_next_load = (before, after)

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            assert bluez.around_next_load is None  # the hook ran
            assert (state.get("media.track_title"), state.get("media.is_playing")) == ("Hyperballad", True)

    asyncio.run(scenario())


def test_the_handler_itself_ignores_senders_other_than_bluetoothd(bluez: FakeBluez) -> None:
    # The match rules already keep others' signals away; this is the second line of defence.
    bluez.add_phone()

    async def scenario() -> None:
        async with running() as (source, state):
            await eventually(lambda: online(source, state))
            forged = Message.new_signal(PLAYER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        "sa{sv}as", ["org.bluez.MediaPlayer1", {"Status": Variant("s", "paused")}, []])
            forged.sender = ":1.999"
            source._on_message(forged)
            assert state.get("media.is_playing") is True
            forged.sender = source.bluez_owner
            source._on_message(forged)
            assert state.get("media.is_playing") is False

    asyncio.run(scenario())


# -- the probe -------------------------------------------------------------------------------


def test_probe_reports_adapter_phone_and_track(bluez: FakeBluez) -> None:
    bluez.add_phone()
    updates: list[dict[str, Any]] = []
    report = asyncio.run(probe_bluetooth(Config(), 0.5, updates.append))
    assert report["ok"] is True and report["problem"] is None
    assert (report["adapter"], report["adapter_present"], report["powered"]) == ("hci0", True, True)
    assert report["connected_device"] == {"address": PHONE, "name": "Pixel 7"}
    assert report["track"]["title"] == "Teardrop" and report["track"]["status"] == "playing"
    assert report["advice"] == []
    assert updates and updates[-1]["ok"] is True


def test_probe_advises_when_no_phone_is_connected(bluez: FakeBluez) -> None:
    bluez.add_adapter()
    report = asyncio.run(probe_bluetooth(Config(), 0.3))
    assert report["ok"] is True and report["connected_device"] is None and report["track"] is None
    assert any("bluetoothctl" in a and "connect_bluetooth" in a for a in report["advice"])


def test_probe_advises_when_the_adapter_is_off(bluez: FakeBluez) -> None:
    bluez.add_adapter(powered=False)
    report = asyncio.run(probe_bluetooth(Config(), 0.3))
    assert report["ok"] is False and report["powered"] is False
    assert any("bluetoothctl power on" in a for a in report["advice"])


def test_probe_advises_when_bluetoothd_is_not_running(system_bus: PrivateBus) -> None:
    report = asyncio.run(probe_bluetooth(Config(), 0.3))
    assert report["ok"] is False and "bluetoothd is not running" in report["problem"]
    assert any("sudo systemctl status bluetooth" in a for a in report["advice"])


def test_probe_without_a_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/none")
    report = asyncio.run(probe_bluetooth(Config(), 0.2))
    assert report["ok"] is False and report["adapter_present"] is False
    assert "cannot reach the D-Bus system bus" in report["problem"]
    assert any("systemctl status dbus" in a for a in report["advice"])


def test_probe_command_over_real_dbus(bluez: FakeBluez) -> None:
    """`evscreen probe bluetooth` as a process, talking to the fake BlueZ over the private bus."""
    import json
    import os

    from conftest import evscreen_cmd

    bluez.add_phone()
    result = subprocess.run(evscreen_cmd("probe", "bluetooth", "--json", "--duration", "1"), capture_output=True,
                            text=True, timeout=60, env=os.environ)
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is True and verdict["probe"] == "bluetooth"
    assert verdict["readings"]["connected_device"]["name"] == "Pixel 7"
    assert verdict["readings"]["malformed_signals"] == 0  # shown to the user; none from a sane bluetoothd


def test_probe_command_without_bluetoothd(system_bus: PrivateBus) -> None:
    import json
    import os

    from conftest import evscreen_cmd

    result = subprocess.run(evscreen_cmd("probe", "bluetooth", "--json", "--duration", "0.5"), capture_output=True,
                            text=True, timeout=60, env=os.environ)
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False and "bluetoothd" in verdict["cause"]
    assert any("systemctl status bluetooth" in a for a in verdict["advice"])
