"""Bluetooth media from a phone, through BlueZ on the D-Bus system bus (dbus-fast, asyncio).

The source mirrors ``org.bluez``'s objects (:class:`~evscreen.drivers.bluetooth.objects.BluezObjects`)
from one ``GetManagedObjects`` call, then keeps the mirror current from the signals BlueZ emits
(``InterfacesAdded``/``InterfacesRemoved`` on ``/``, ``PropertiesChanged`` under ``/org/bluez``,
and the bus's ``NameOwnerChanged`` for bluetoothd restarts). Nothing is polled: between two
``Position`` reports the position of a playing track is extrapolated from the clock.

It also carries out the screen's commands: ``connect_bluetooth`` -> ``Device1.Connect``,
play/pause/next/previous -> ``MediaPlayer1``, ``set_volume`` -> ``MediaTransport1.Volume``.

dbus-fast is imported only when the source runs: it exists only on Linux. Without it, without a
system bus or without an adapter the source is offline (one log line, then retries with backoff
where retrying can help) and media commands answer ``unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evscreen.drivers.base import BluetoothControl, MediaControl, Source
from evscreen.drivers.bluetooth.dbus_system import (
    BusUnavailable,
    DbusCallError,
    DbusLibraryMissing,
    call_method,
    connect_system_bus,
    disconnect_quietly,
    plain,
    system_bus_address,
)
from evscreen.drivers.bluetooth.errors import ADVICE_BLUETOOTHD, ADVICE_GROUP, ALREADY_DONE, command_failed, unavailable
from evscreen.drivers.bluetooth.objects import (
    DEVICE,
    PLAYER,
    TRANSPORT,
    BluetoothView,
    BluezObjects,
    clean_text,
    volume_to_bluez,
)
from evscreen.errors import CommandFailed
from evscreen.protocol import ErrorCode

if TYPE_CHECKING:
    from evscreen.config import Config
    from evscreen.state import VehicleState

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
DBUS = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"

#: Match rules: only what org.bluez itself emits, and its owner changing (bluetoothd restarts).
MATCH_RULES = (
    f"type='signal',sender='{BLUEZ}',interface='{OBJECT_MANAGER}',path='/'",
    f"type='signal',sender='{BLUEZ}',interface='{PROPERTIES}',member='PropertiesChanged',path_namespace='/org/bluez'",
    f"type='signal',sender='{DBUS}',interface='{DBUS}',member='NameOwnerChanged',arg0='{BLUEZ}'",
)

TICK_S = 1.0  # re-publish (position extrapolation) and keep the source fresh
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0


class BluetoothSource(Source):
    """The phone's media over BlueZ; also the controller of media commands and connections."""

    name = "bluetooth"

    def __init__(self, config: Config, state: VehicleState) -> None:
        super().__init__(config, state)
        self.settings = config.bluetooth
        self.objects = BluezObjects()
        self.media = BluezMedia(self)
        self.bluetooth = BluezConnector(self)
        self.bus: Any = None
        self.bluez_owner: str | None = None
        #: Why the source cannot serve right now (None when it can), and what to check.
        self.problem: str | None = "not started"
        self.advice: list[str] = []
        self.library_missing = False
        self.view = BluetoothView(self.settings.adapter)
        self.malformed_signals = 0
        self.reconnects = 0  # attempts to reach the bus after the first
        self._load_error: tuple[str, list[str]] | None = None
        self._reported: str | None = None
        self._generation = 0
        #: bluetoothd's signals held while a GetManagedObjects reply is awaited (see _reload).
        self._held: list[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def describe(self) -> str:
        return f"{self.name}: BlueZ adapter {self.settings.adapter} on the D-Bus system bus {system_bus_address()}"

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        delay = BACKOFF_FIRST_S
        while True:
            try:
                bus = await connect_system_bus()
            except DbusLibraryMissing as exc:
                self.library_missing = True
                self._offline(f"Bluetooth unavailable: {exc}", ["on Linux: `pip install dbus-fast`; elsewhere "
                                                                 "use simulation.mode = on for simulated media"])
                return
            except BusUnavailable as exc:
                self._offline(f"Bluetooth unavailable: {exc}", [
                    "is D-Bus running? `systemctl status dbus`",
                    "the system bus is /var/run/dbus/system_bus_socket unless DBUS_SYSTEM_BUS_ADDRESS names another; "
                    "in a container, mount the host's /run/dbus",
                ], retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                self.reconnects += 1
                continue
            started = time.monotonic()
            await self._serve(bus)
            if time.monotonic() - started > BACKOFF_MAX_S:
                delay = BACKOFF_FIRST_S  # it worked for a while: this is a new failure, not the same one
            self._offline("Bluetooth unavailable: lost the connection to the D-Bus system bus",
                          ["is D-Bus running? `systemctl status dbus`"], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
            self.reconnects += 1

    async def close(self) -> None:
        if self.bus is not None:
            disconnect_quietly(self.bus)
            self.bus = None

    async def _serve(self, bus: Any) -> None:
        """Mirror org.bluez over one bus connection until it drops."""
        self.bus = bus
        bus.add_message_handler(self._on_message)
        ticker: asyncio.Task[Any] | None = None
        try:
            for rule in MATCH_RULES:
                await self._call(DBUS, DBUS_PATH, DBUS, "AddMatch", "s", [rule])
            await self._reload()
            ticker = asyncio.create_task(self._tick())
            try:
                await bus.wait_for_disconnect()
            except Exception as exc:  # the daemon went away; run() reports it
                log.debug("D-Bus connection ended: %s", exc)
        except DbusCallError as exc:
            log.debug("D-Bus call failed while starting: %s", exc)
        except (EOFError, OSError, ConnectionError) as exc:
            log.debug("D-Bus connection failed while starting: %s", exc)
        finally:
            if ticker is not None:
                ticker.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.bus = None
            self.bluez_owner = None
            bus.remove_message_handler(self._on_message)
            disconnect_quietly(bus)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self.problem is None:
                self._publish()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- D-Bus ----------------------------------------------------------------------------------

    async def _call(
        self, destination: str, path: str, interface: str, member: str, signature: str = "",
        body: list[Any] | None = None, timeout: float | None = None,
    ) -> Any:
        if self.bus is None:
            raise DbusCallError("org.freedesktop.DBus.Error.Disconnected", "not connected to the system bus")
        return await call_method(self.bus, destination, path, interface, member, signature, body, timeout)

    async def _reload(self) -> None:
        """Read everything anew: at start, and when bluetoothd (re)appears on the bus."""
        self._generation += 1
        generation = self._generation
        try:
            reply = await self._call(DBUS, DBUS_PATH, DBUS, "GetNameOwner", "s", [BLUEZ])
            owner = reply.body[0]
        except DbusCallError as exc:
            if exc.name != "org.freedesktop.DBus.Error.NameHasNoOwner":
                raise
            owner = None
        if generation != self._generation:
            return
        self.bluez_owner = owner
        self._load_error = None
        if owner is None:
            self.objects.clear()
            self._publish()
            return
        # dbus-fast handles a signal as soon as it is read, but resumes us with the reply only on a
        # later turn of the loop: signals bluetoothd sent after this reply would be overwritten by
        # it. So they are held, and replayed if their serial (per sender, increasing) is later.
        held: list[Any] = []
        self._held = held
        try:
            reply = await self._call(BLUEZ, "/", OBJECT_MANAGER, "GetManagedObjects",
                                     timeout=self.settings.command_timeout)
        except DbusCallError as exc:
            advice = [ADVICE_GROUP] if exc.name.endswith("AccessDenied") else [ADVICE_BLUETOOTHD]
            why = clean_text(exc.text, 200) or ""
            self._load_error = (f"Bluetooth unavailable: cannot read BlueZ's objects: {exc.name}"
                                + (f": {why}" if why else ""), advice)
        except asyncio.TimeoutError:
            self._load_error = ("Bluetooth unavailable: bluetoothd did not answer GetManagedObjects",
                                [ADVICE_BLUETOOTHD])
        finally:
            if self._held is held:
                self._held = None
        if generation != self._generation:
            return
        if self._load_error is None:
            managed = plain(reply.body[0]) if reply.signature == "a{oa{sa{sv}}}" else {}
            self.objects.replace(managed, time.monotonic())
            for msg in held:
                if msg.sender == reply.sender and msg.serial > reply.serial:
                    self._apply_guarded(msg)
        else:
            self.objects.clear()
        self._publish()

    def _on_message(self, msg: Any) -> None:
        """dbus-fast's handler for every incoming message; only signals are ours to read."""
        from dbus_fast import MessageType

        if msg.message_type != MessageType.SIGNAL:
            return None
        try:
            self._on_signal(msg)
        except Exception:
            # Whatever a peer sends must not take the source down; count it and keep going.
            self.malformed_signals += 1
            log.debug("ignored a malformed signal %s.%s from %s", msg.interface, msg.member, msg.sender, exc_info=True)
        return None

    def _on_signal(self, msg: Any) -> None:
        if msg.sender == DBUS and msg.interface == DBUS and msg.member == "NameOwnerChanged":
            if msg.signature != "sss" or msg.body[0] != BLUEZ:
                return
            self.bluez_owner = msg.body[2] or None
            self._generation += 1  # a reload in flight read the previous owner
            if self.bluez_owner is None:
                self._held = None
                self.objects.clear()
                self._load_error = None
                self._publish()
            else:
                self._spawn(self._reload_logged())
            return
        if self.bluez_owner is None or msg.sender != self.bluez_owner:
            return  # not bluetoothd: anyone can emit a signal on the bus
        if self._held is not None:
            self._held.append(msg)
        elif self._apply(msg):
            self._publish()

    def _apply(self, msg: Any) -> bool:
        """One of bluetoothd's signals into the mirror; True if it changed something we know."""
        now = time.monotonic()
        body = msg.body
        if msg.interface == OBJECT_MANAGER and msg.path == "/":
            if msg.member == "InterfacesAdded" and msg.signature == "oa{sa{sv}}":
                self.objects.add(body[0], plain(body[1]), now)
                return True
            if msg.member == "InterfacesRemoved" and msg.signature == "oas":
                self.objects.remove(body[0], body[1])
                return True
        elif msg.interface == PROPERTIES and msg.member == "PropertiesChanged" and msg.signature == "sa{sv}as":
            return self.objects.change(msg.path, body[0], plain(body[1]), body[2], now)
        return False

    def _apply_guarded(self, msg: Any) -> None:
        try:
            self._apply(msg)
        except Exception:
            self.malformed_signals += 1
            log.debug("ignored a malformed signal %s.%s", msg.interface, msg.member, exc_info=True)

    async def _reload_logged(self) -> None:
        try:
            await self._reload()
        except (DbusCallError, OSError, EOFError, ConnectionError) as exc:
            log.debug("re-reading BlueZ failed: %s", exc)

    # -- state ----------------------------------------------------------------------------------

    def _publish(self) -> None:
        view = self.objects.view(self.settings.adapter, time.monotonic())
        self.view = view
        adapter = self.settings.adapter
        if self._load_error is not None:
            self._offline(*self._load_error)  # we cannot see: keep the last values, marked offline
            return
        self.state.update(self.name, view.telemetry())
        if self.bluez_owner is None:
            self._offline("Bluetooth unavailable: bluetoothd is not running (org.bluez is not on the system bus)",
                          [ADVICE_BLUETOOTHD, "install BlueZ: `sudo apt install bluez`"])
        elif not view.adapter_present:
            others = ""
            if view.other_adapters:
                others = f" (BlueZ has {', '.join(view.other_adapters)}: set bluetooth.adapter)"
            self._offline(f"Bluetooth unavailable: no Bluetooth adapter {adapter}{others}", _ADVICE_NO_ADAPTER)
        else:
            detail = "" if view.powered else f"adapter {adapter} is powered off"
            self._online(detail, [] if view.powered else _ADVICE_POWER)

    def _offline(self, problem: str, advice: list[str], retry_in: float | None = None) -> None:
        self.problem = problem
        self.advice = list(advice)
        self.state.set_online(self.name, False, problem)
        if problem != self._reported:
            self._reported = problem
            later = "; retrying with backoff" if retry_in is not None else ""
            log.warning("%s%s", problem, later)

    def _online(self, detail: str, advice: list[str]) -> None:
        recovered = self.problem is not None
        self.problem = None
        self.advice = list(advice)
        self.state.set_online(self.name, True, detail)
        if recovered or detail != self._reported:
            if self._reported is not None or detail:
                log.info("Bluetooth: adapter %s ready%s", self.settings.adapter, f" but {detail}" if detail else "")
            self._reported = detail

    # -- commands -------------------------------------------------------------------------------

    def _usable_view(self) -> BluetoothView:
        if self.bus is None or self.problem is not None:
            raise unavailable(self.problem or "Bluetooth unavailable: not connected to the D-Bus system bus")
        self.view = self.objects.view(self.settings.adapter, time.monotonic())
        return self.view

    async def _bluez(self, what: str, path: str, interface: str, member: str, signature: str = "",
                     body: list[Any] | None = None, timeout: float | None = None) -> None:
        timeout = timeout or self.settings.command_timeout
        try:
            await self._call(BLUEZ, path, interface, member, signature, body, timeout=timeout)
        except DbusCallError as exc:
            if exc.name in ALREADY_DONE:
                return
            raise command_failed(what, exc.name, exc.text) from None
        except asyncio.TimeoutError:
            raise unavailable(f"{what} failed: bluetoothd did not answer within {timeout:g} s") from None
        except (OSError, EOFError, ConnectionError) as exc:
            raise unavailable(f"{what} failed: lost the D-Bus connection ({exc})") from None

    async def connect_device(self, address: str) -> None:
        view = self._usable_view()
        adapter = self.settings.adapter
        if not view.powered:
            raise unavailable(f"adapter {adapter} is powered off; turn it on with `bluetoothctl power on`")
        assert view.adapter_path is not None
        device = self.objects.device_by_address(view.adapter_path, address)
        if device is None:
            raise CommandFailed(ErrorCode.INVALID_VALUE.value,
                                f"{address.upper()} is not a device known to {adapter}; pair it first "
                                f"(`bluetoothctl pair {address.upper()}`)")
        await self._bluez(f"connecting {address.upper()}", device, DEVICE, "Connect",
                          timeout=self.settings.connect_timeout)
        log.info("Bluetooth: connected %s", address.upper())

    def _player(self) -> str:
        view = self._usable_view()
        if not view.connected:
            raise unavailable("no phone is connected over Bluetooth")
        if view.player_path is None:
            raise unavailable(f"{view.device_name or view.device_address} offers no media player yet "
                              "(start playing music on it once)")
        return view.player_path

    async def player_command(self, member: str) -> None:
        await self._bluez(f"MediaPlayer1.{member}", self._player(), PLAYER, member)

    async def set_volume(self, volume: float) -> None:
        level = volume_to_bluez(volume)
        view = self._usable_view()
        if not view.connected:
            raise unavailable("no phone is connected over Bluetooth")
        transport = view.transport_path
        if transport is None:
            raise unavailable(f"{view.device_name or view.device_address} has no audio stream (MediaTransport1)")
        if "Volume" not in self.objects.props(transport, TRANSPORT):
            raise unavailable(f"{view.device_name or view.device_address} does not support remote volume")
        from dbus_fast import Variant

        await self._bluez("setting the volume", transport, PROPERTIES, "Set", "ssv",
                          [TRANSPORT, "Volume", Variant("q", level)])

    # -- probe ----------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """What ``evscreen probe bluetooth`` shows: the verdict, what was read, and what to check."""
        view = self.view
        advice = list(self.advice)
        if self.problem is None and view.powered:
            if not view.connected:
                advice.append("no phone connected: pair it once with `bluetoothctl` (`scan on`, `pair XX:XX:...`, "
                              "`trust XX:XX:...`), then `evscreen send connect_bluetooth XX:XX:...`")
            elif view.player_path is None:
                advice.append(f"{view.device_name} is connected but offers no media player: start playing music on it")
        track = None
        if view.player_path is not None:
            track = {"title": view.track.title, "artist": view.track.artist, "duration": view.track.duration,
                     "position": view.position, "status": view.status}
        return {
            "source": self.name,
            "ok": self.problem is None and bool(view.powered),
            "problem": self.problem,
            "bus": system_bus_address(),
            "adapter": self.settings.adapter,
            "adapter_present": view.adapter_present,
            "adapter_address": view.adapter_address,
            "powered": view.powered,
            "other_adapters": list(view.other_adapters),
            "connected_device": (
                {"address": view.device_address, "name": view.device_name} if view.connected else None
            ),
            "track": track,
            "volume": view.volume,
            # Signals from bluetoothd that could not be read (dropped; the source carries on).
            "malformed_signals": self.malformed_signals,
            "advice": advice,
        }


_ADVICE_NO_ADAPTER = [
    "`bluetoothctl list` shows the adapters BlueZ knows; `rfkill list` shows blocked ones "
    "(`sudo rfkill unblock bluetooth`)",
    "on a Raspberry Pi: no `dtoverlay=disable-bt` in /boot/firmware/config.txt, and `sudo systemctl status hciuart`",
]
_ADVICE_POWER = [
    "power it on: `bluetoothctl power on` (if it is blocked: `sudo rfkill unblock bluetooth`)",
    "to power it at boot: AutoEnable=true in /etc/bluetooth/main.conf",
]


class BluezMedia(MediaControl):
    """Media commands for the phone connected through BlueZ."""

    def __init__(self, source: BluetoothSource) -> None:
        self.source = source

    async def play(self) -> None:
        await self.source.player_command("Play")

    async def pause(self) -> None:
        await self.source.player_command("Pause")

    async def next_track(self) -> None:
        await self.source.player_command("Next")

    async def previous_track(self) -> None:
        await self.source.player_command("Previous")

    async def set_volume(self, volume: float) -> None:
        await self.source.set_volume(volume)


class BluezConnector(BluetoothControl):
    def __init__(self, source: BluetoothSource) -> None:
        self.source = source

    async def connect(self, address: str) -> None:
        await self.source.connect_device(address)


async def probe_bluetooth(
    config: Config, duration: float, on_update: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Watch BlueZ for ``duration`` seconds and return :meth:`BluetoothSource.report`.

    ``on_update`` receives the report as it changes, for a live view.
    """
    from evscreen.state import VehicleState

    source = BluetoothSource(config, VehicleState())
    task = asyncio.create_task(source.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, duration)
    last: dict[str, Any] | None = None
    try:
        while not task.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(0.1, remaining))
            if on_update is not None and (report := source.report()) != last:
                last = report
                on_update(report)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()
    return source.report()
