"""A private D-Bus daemon and a fake ``org.bluez`` on it, for driving the real Bluetooth client.

:class:`PrivateBus` runs a real ``dbus-daemon`` listening on a unix socket in a temporary
directory. :class:`FakeBluez` connects to it with dbus-fast, owns the name ``org.bluez`` and
exports objects with BlueZ's interface, property and method names and D-Bus types (from BlueZ's
``doc/org.bluez.{Adapter,Device,MediaPlayer,MediaTransport}.rst``): ``Adapter1`` at
``/org/bluez/hci0``, ``Device1`` at ``.../dev_XX_XX_XX_XX_XX_XX``, ``MediaPlayer1`` at
``.../player0`` and ``MediaTransport1`` at ``.../fd0``. Like bluetoothd, it announces objects with
``InterfacesAdded``/``InterfacesRemoved`` emitted from ``/`` (the ObjectManager) and changes with
``PropertiesChanged``. It records every method call it receives, so tests can assert that a
command reached "the phone".

The fake runs on its own event loop in a thread, so it serves an in-process client and a server
Runtime running in another thread alike.
"""

# dbus-fast reads D-Bus signatures from annotations ("s", "a{sv}"): they are not Python names.
# ruff: noqa: F821, F722, UP037

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

from conftest import require_tool

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:dir={directory}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    {extra}
  </policy>
</busconfig>
"""

#: BlueZ's own policy for users outside the bluetooth group: nobody may call org.bluez.
DENY_BLUEZ = '<deny send_destination="org.bluez"/>'


class PrivateBus:
    """A real dbus-daemon of our own, on a unix socket; ``address`` is its D-Bus address."""

    def __init__(self, extra_policy: str = "") -> None:
        # Unix socket paths are limited to ~100 bytes: pytest's tmp_path can be longer.
        self.directory = Path(tempfile.mkdtemp(prefix="evs-dbus-"))
        self.config = self.directory / "bus.conf"
        self.config.write_text(BUS_CONFIG.format(directory=self.directory, extra=extra_policy))
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> PrivateBus:
        self.proc = subprocess.Popen(
            [require_tool("dbus-daemon", apt="dbus"), f"--config-file={self.config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.proc.wait(5)
            raise RuntimeError(f"dbus-daemon did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def device_path(adapter: str, address: str) -> str:
    return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"


def track(title: str, artist: str, duration_ms: int, album: str = "", number: int = 1) -> dict[str, Variant]:
    return {
        "Title": Variant("s", title), "Artist": Variant("s", artist), "Album": Variant("s", album),
        "Genre": Variant("s", ""), "NumberOfTracks": Variant("u", 10), "TrackNumber": Variant("u", number),
        "Duration": Variant("u", duration_ms),
    }


PLAYLIST = (
    track("Teardrop", "Massive Attack", 330_000, "Mezzanine", 1),
    track("Windowlicker", "Aphex Twin", 367_000, "Windowlicker", 2),
    track("Hyperballad", "Björk", 321_000, "Post", 3),
)


class FakeObject(ServiceInterface):
    """Shared helpers: record calls, change properties the way bluetoothd does."""

    def __init__(self, name: str, fake: FakeBluez, path: str) -> None:
        super().__init__(name)
        self.fake = fake
        self.path = path

    def record(self, member: str, *args: Any) -> None:
        self.fake.calls.append((self.path, self.name, member, *args))

    def variant_properties(self) -> dict[str, Variant]:
        return {p.name: Variant(p.signature, getattr(self, p.name)) for p in self.introspect().properties}

    def update(self, **values: Any) -> None:
        """Set properties (by their D-Bus names) and emit PropertiesChanged."""
        for name, value in values.items():
            setattr(self, "_" + name, value)
        self.emit_properties_changed(values)


class FakeAdapter(FakeObject):
    def __init__(self, fake: FakeBluez, name: str, address: str, powered: bool) -> None:
        super().__init__("org.bluez.Adapter1", fake, f"/org/bluez/{name}")
        self._Address = address
        self._Name = self._Alias = "evscreen-car"
        self._Powered = powered
        self._Discoverable = self._Discovering = False
        self._Pairable = True
        self._Class = 0x200414

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return self._Address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self._Name

    @dbus_property()
    def Alias(self) -> "s":
        return self._Alias

    @Alias.setter
    def Alias(self, value: "s"):
        self._Alias = value

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> "u":
        return self._Class

    @dbus_property()
    def Powered(self) -> "b":
        return self._Powered

    @Powered.setter
    def Powered(self, value: "b"):
        self.record("Set Powered", value)
        self._Powered = value

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> "b":
        return self._Discoverable

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> "b":
        return self._Pairable

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":
        return self._Discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return ["0000110a-0000-1000-8000-00805f9b34fb", "0000110e-0000-1000-8000-00805f9b34fb"]

    @method()
    def StartDiscovery(self):
        self.record("StartDiscovery")

    @method()
    def StopDiscovery(self):
        self.record("StopDiscovery")

    @method()
    def RemoveDevice(self, device: "o"):
        self.record("RemoveDevice", device)


class FakeDevice(FakeObject):
    def __init__(self, fake: FakeBluez, adapter: FakeAdapter, address: str, name: str, connected: bool) -> None:
        super().__init__("org.bluez.Device1", fake, device_path(adapter.path.rsplit("/", 1)[-1], address))
        self.adapter = adapter
        self._Address = address
        self._Name = self._Alias = name
        self._Connected = connected
        self._Paired = self._Bonded = self._Trusted = True
        #: (error name, text) that Connect answers with, or None to connect.
        self.connect_error: tuple[str, str] | None = None
        #: Seconds Connect takes (paging a phone that is out of range takes a while).
        self.connect_delay = 0.0

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return self._Address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self._Name

    @dbus_property()
    def Alias(self) -> "s":
        return self._Alias

    @Alias.setter
    def Alias(self, value: "s"):
        self._Alias = value

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> "u":
        return 0x5A020C  # phone, smartphone

    @dbus_property(access=PropertyAccess.READ)
    def Icon(self) -> "s":
        return "phone"

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":
        return self._Paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> "b":
        return self._Bonded

    @dbus_property()
    def Trusted(self) -> "b":
        return self._Trusted

    @Trusted.setter
    def Trusted(self, value: "b"):
        self._Trusted = value

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        return self._Connected

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":
        return self.adapter.path

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return ["0000110c-0000-1000-8000-00805f9b34fb", "0000110e-0000-1000-8000-00805f9b34fb"]

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":
        return self._Connected

    @method()
    async def Connect(self):
        self.record("Connect")
        await asyncio.sleep(self.connect_delay)
        if self.connect_error is not None:
            from dbus_fast import DBusError

            raise DBusError(*self.connect_error)
        if self._Connected:
            from dbus_fast import DBusError

            raise DBusError("org.bluez.Error.AlreadyConnected", "Already Connected")
        self.update(Connected=True)

    @method()
    def Disconnect(self):
        self.record("Disconnect")
        self.update(Connected=False)

    @method()
    def ConnectProfile(self, uuid: "s"):
        self.record("ConnectProfile", uuid)

    @method()
    def DisconnectProfile(self, uuid: "s"):
        self.record("DisconnectProfile", uuid)

    @method()
    def Pair(self):
        self.record("Pair")

    @method()
    def CancelPairing(self):
        self.record("CancelPairing")

    @signal()
    def Disconnected(self, name: str, message: str) -> "ss":
        return [name, message]


class FakePlayer(FakeObject):
    def __init__(self, fake: FakeBluez, device: FakeDevice, index: int = 0) -> None:
        super().__init__("org.bluez.MediaPlayer1", fake, f"{device.path}/player{index}")
        self.device = device
        self.playlist_index = 0
        self._Track = PLAYLIST[0]
        self._Status = "paused"
        self._Position = 0
        self._Name = "Music"
        #: (error name, text) that every control method answers with, or None.
        self.error: tuple[str, str] | None = None

    def _control(self, member: str) -> None:
        self.record(member)
        if self.error is not None:
            from dbus_fast import DBusError

            raise DBusError(*self.error)

    @method()
    def Play(self):
        self._control("Play")
        self.update(Status="playing")

    @method()
    def Pause(self):
        self._control("Pause")
        self.update(Status="paused")

    @method()
    def Stop(self):
        self._control("Stop")
        self.update(Status="stopped")

    @method()
    def Next(self):
        self._control("Next")
        self.playlist_index = (self.playlist_index + 1) % len(PLAYLIST)
        self.update(Track=PLAYLIST[self.playlist_index], Position=0)

    @method()
    def Previous(self):
        self._control("Previous")
        self.playlist_index = (self.playlist_index - 1) % len(PLAYLIST)
        self.update(Track=PLAYLIST[self.playlist_index], Position=0)

    @method()
    def FastForward(self):
        self._control("FastForward")

    @method()
    def Rewind(self):
        self._control("Rewind")

    @method()
    def Press(self, avc_key: "y"):
        self.record("Press", avc_key)

    @method()
    def Hold(self, avc_key: "y"):
        self.record("Hold", avc_key)

    @method()
    def Release(self):
        self.record("Release")

    @dbus_property()
    def Equalizer(self) -> "s":
        return "off"

    @Equalizer.setter
    def Equalizer(self, value: "s"):
        self.record("Set Equalizer", value)

    @dbus_property()
    def Repeat(self) -> "s":
        return "off"

    @Repeat.setter
    def Repeat(self, value: "s"):
        self.record("Set Repeat", value)

    @dbus_property()
    def Shuffle(self) -> "s":
        return "off"

    @Shuffle.setter
    def Shuffle(self, value: "s"):
        self.record("Set Shuffle", value)

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> "s":
        return self._Status

    @dbus_property(access=PropertyAccess.READ)
    def Position(self) -> "u":
        return self._Position

    @dbus_property(access=PropertyAccess.READ)
    def Track(self) -> "a{sv}":
        return self._Track

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return self.device.path

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self._Name

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> "s":
        return "Audio"

    @dbus_property(access=PropertyAccess.READ)
    def Subtype(self) -> "s":
        return "Audio Book"

    @dbus_property(access=PropertyAccess.READ)
    def Browsable(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Searchable(self) -> "b":
        return False


class FakeTransport(FakeObject):
    def __init__(self, fake: FakeBluez, device: FakeDevice, volume: int | None, index: int = 0) -> None:
        super().__init__("org.bluez.MediaTransport1", fake, f"{device.path}/fd{index}")
        self.device = device
        self._Volume = volume if volume is not None else 0
        self._State = "active"
        self._Delay = 1500

    @method()
    def Acquire(self) -> "hqq":
        self.record("Acquire")
        from dbus_fast import DBusError

        raise DBusError("org.bluez.Error.NotAuthorized", "Operation Not Authorized")

    @method()
    def TryAcquire(self) -> "hqq":
        self.record("TryAcquire")
        from dbus_fast import DBusError

        raise DBusError("org.bluez.Error.NotAvailable", "Operation currently not available")

    @method()
    def Release(self):
        self.record("Release")

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return self.device.path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return "0000110a-0000-1000-8000-00805f9b34fb"  # A2DP source (the phone)

    @dbus_property(access=PropertyAccess.READ)
    def Codec(self) -> "y":
        return 0  # SBC

    @dbus_property(access=PropertyAccess.READ)
    def Configuration(self) -> "ay":
        return b"\x21\x15\x02\x35"

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> "s":
        return self._State

    @dbus_property()
    def Delay(self) -> "q":
        return self._Delay

    @Delay.setter
    def Delay(self, value: "q"):
        self._Delay = value

    @dbus_property()
    def Volume(self) -> "q":
        return self._Volume

    @Volume.setter
    def Volume(self, value: "q"):
        self.record("Set Volume", value)
        self._Volume = value
        self.emit_properties_changed({"Volume": value})


class FakeTransportWithoutVolume(FakeTransport):
    """Volume is optional in BlueZ: phones without AVRCP absolute volume have no such property."""

    @dbus_property(disabled=True)
    def Volume(self) -> "q":
        return 0

    @Volume.setter
    def Volume(self, value: "q"):
        self.record("Set Volume", value)


class HostilePlayer(FakeObject):
    """A MediaPlayer1 whose properties have the wrong D-Bus types altogether, and no methods."""

    def __init__(self, fake: FakeBluez, path: str, device: str) -> None:
        super().__init__("org.bluez.MediaPlayer1", fake, path)
        self.device = device

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> "u":
        return 1

    @dbus_property(access=PropertyAccess.READ)
    def Position(self) -> "s":
        return "12"

    @dbus_property(access=PropertyAccess.READ)
    def Track(self) -> "as":
        return ["Title", "Artist"]

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "s":
        return self.device


class FakeBluez:
    """``org.bluez`` on a private bus, on its own event loop in a thread."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[tuple[Any, ...]] = []
        self.bus: Any = None
        self.exported: dict[str, dict[str, FakeObject]] = {}
        #: (before, after): run on the fake's loop around the next GetManagedObjects reply, to
        #: send signals that bluetoothd emitted just before or just after answering.
        self.around_next_load: tuple[Callable[[], None], Callable[[], None]] | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="fake-bluez")

    # -- running ------------------------------------------------------------------------------

    def start(self, own_name: bool = True) -> FakeBluez:
        self.thread.start()
        self.run(self._connect(own_name))
        return self

    async def _connect(self, own_name: bool) -> None:
        self.bus = await MessageBus(bus_address=self.address).connect()
        self.bus.add_message_handler(self._get_managed_objects)
        if own_name:
            await self.bus.request_name("org.bluez")

    def _get_managed_objects(self, msg: Message) -> bool | None:
        """ObjectManager.GetManagedObjects at /, answered by hand when a test wants signals around it."""
        if (self.around_next_load is None or msg.message_type != MessageType.METHOD_CALL
                or msg.member != "GetManagedObjects" or msg.path != "/"):
            return None  # dbus-fast's own ObjectManager answers
        before, after = self.around_next_load
        self.around_next_load = None
        before()
        managed = {path: {name: obj.variant_properties() for name, obj in ifaces.items()}
                   for path, ifaces in self.exported.items()}
        self.bus.send(Message.new_method_return(msg, "a{oa{sa{sv}}}", [managed]))
        after()
        return True

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the fake's loop (D-Bus objects belong to it) and return its result."""

        async def call() -> Any:
            return fn(*args, **kwargs)

        return self.run(call())

    def stop(self) -> None:
        """bluetoothd exits: its connection closes, the bus announces org.bluez has no owner."""
        if self.bus is not None:
            self.do(self.bus.disconnect)
            self.bus = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    # -- objects ------------------------------------------------------------------------------

    def export(self, obj: FakeObject) -> FakeObject:
        def go() -> None:
            self.bus.export(obj.path, obj)
            self.exported.setdefault(obj.path, {})[obj.name] = obj
            self.announce(obj.path, {obj.name: obj.variant_properties()})

        self.do(go)
        return obj

    def unexport(self, obj: FakeObject) -> None:
        def go() -> None:
            self.bus.unexport(obj.path, obj)
            self.exported.get(obj.path, {}).pop(obj.name, None)
            self.send("/", "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "oas", [obj.path, [obj.name]])

        self.do(go)

    def announce(self, path: str, interfaces: dict[str, dict[str, Variant]]) -> None:
        self.send("/", "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "oa{sa{sv}}", [path, interfaces])

    def send(self, path: str, interface: str, member: str, signature: str, body: list[Any]) -> None:
        """Emit any signal as org.bluez, types unchecked by any declaration (for hostile data)."""
        self.bus.send(Message.new_signal(path, interface, member, signature, body))

    def emit(self, path: str, interface: str, member: str, signature: str, body: list[Any]) -> None:
        self.do(self.send, path, interface, member, signature, body)

    def properties_changed(
        self, path: str, interface: str, changed: dict[str, Variant], invalidated: list[str] | None = None,
    ) -> None:
        self.emit(path, "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
                  [interface, changed, invalidated or []])

    def add_adapter(self, name: str = "hci0", address: str = "B8:27:EB:00:00:01", powered: bool = True) -> FakeAdapter:
        return self.export(FakeAdapter(self, name, address, powered))  # type: ignore[return-value]

    def add_device(self, adapter: FakeAdapter, address: str = "AC:37:43:A1:B2:C3", name: str = "Pixel 7",
                   connected: bool = True) -> FakeDevice:
        return self.export(FakeDevice(self, adapter, address, name, connected))  # type: ignore[return-value]

    def add_player(self, device: FakeDevice, index: int = 0, status: str = "playing", position_ms: int = 61_500,
                   track_index: int = 0) -> FakePlayer:
        player = FakePlayer(self, device, index)
        player._Status = status
        player._Position = position_ms
        player.playlist_index = track_index
        player._Track = PLAYLIST[track_index]
        return self.export(player)  # type: ignore[return-value]

    def add_transport(self, device: FakeDevice, volume: int | None = 100) -> FakeTransport:
        cls = FakeTransport if volume is not None else FakeTransportWithoutVolume
        return self.export(cls(self, device, volume))  # type: ignore[return-value]

    def add_phone(
        self, connected: bool = True, **player: Any,
    ) -> tuple[FakeAdapter, FakeDevice, FakePlayer, FakeTransport]:
        """The usual car: hci0 powered, a paired phone connected, playing, with a stream."""
        adapter = self.add_adapter()
        device = self.add_device(adapter, connected=connected)
        return adapter, device, self.add_player(device, **player), self.add_transport(device)

    def calls_to(self, member: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[2] == member]


# -- fixtures (each test module declares them in two lines, from these) ----------------------


def private_system_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    """A private dbus-daemon that the code under test sees as the system bus."""
    bus = PrivateBus().start()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    yield bus
    bus.stop()


def fake_bluez_on(bus: PrivateBus) -> Iterator[FakeBluez]:
    """The fake org.bluez, running on ``bus`` (no objects yet)."""
    fake = FakeBluez(bus.address).start()
    yield fake
    if fake.bus is not None:
        fake.stop()
