"""BlueZ's object tree as evscreen mirrors it, and the telemetry read from it (pure: no D-Bus here).

The D-Bus client (:mod:`evscreen.drivers.bluetooth.source`) feeds :class:`BluezObjects` with the reply
of ``GetManagedObjects`` and with ``InterfacesAdded``, ``InterfacesRemoved`` and
``PropertiesChanged`` signals, already unwrapped into plain Python values. :meth:`BluezObjects.view`
then answers what the screen wants to know: is the adapter there and powered, which device is
connected, what is it playing.

Everything that comes from the bus is treated as untrusted: a property of the wrong type, a
``Track`` without ``Title``, a negative position or a twenty-kilobyte artist name reads as unknown
(``None``) or is clipped; it never raises and never produces an invented value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
PLAYER = "org.bluez.MediaPlayer1"
TRANSPORT = "org.bluez.MediaTransport1"
CONTROL = "org.bluez.MediaControl1"

#: MediaPlayer1.Position: "it's possible to signal [the track's] end by setting position to the
#: maximum uint32 value" (BlueZ doc/org.bluez.MediaPlayer.rst).
POSITION_END = 0xFFFFFFFF
#: MediaTransport1.Volume range for A2DP (AVRCP absolute volume).
VOLUME_MAX = 127
#: Longest title, artist or device name passed on to the screen.
MAX_TEXT = 256

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

Properties = dict[str, Any]


def clean_text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A display string from the bus, or None: non-strings and empty strings are unknown."""
    if not isinstance(value, str):
        return None
    text = _CONTROL_CHARS.sub(" ", value).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _uint(value: Any, maximum: int = POSITION_END) -> int | None:
    """An unsigned integer property (``u``, ``q``), or None if the bus sent anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        return None
    return value


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _path(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("/") else None


def volume_to_bluez(volume: float) -> int:
    """0.0-1.0 -> MediaTransport1.Volume 0-127."""
    if not isinstance(volume, (int, float)) or isinstance(volume, bool) or not math.isfinite(volume):
        raise ValueError(f"volume must be a number from 0.0 to 1.0, got {volume!r}")
    return max(0, min(VOLUME_MAX, round(volume * VOLUME_MAX)))


def volume_from_bluez(value: Any) -> float | None:
    raw = _uint(value, VOLUME_MAX)
    return None if raw is None else round(raw / VOLUME_MAX, 3)


@dataclass(frozen=True)
class Track:
    """``MediaPlayer1.Track`` reduced to what the screen shows; None where the phone did not say."""

    title: str | None = None
    artist: str | None = None
    duration: float | None = None  # seconds

    @classmethod
    def from_bluez(cls, track: Any) -> Track:
        if not isinstance(track, Mapping):
            return cls()
        duration_ms = _uint(track.get("Duration"))
        # 0 is what phones send when they do not know; the all-ones value is not a duration.
        duration = duration_ms / 1000.0 if duration_ms and duration_ms != POSITION_END else None
        return cls(clean_text(track.get("Title")), clean_text(track.get("Artist")), duration)


@dataclass
class PlayerClock:
    """Where a player's position was at a known instant, so it can be extrapolated while playing.

    BlueZ sends ``Position`` only when the phone reports it (on track change, seek, play/pause),
    not every second; between reports a playing track advances with the clock.
    """

    position_ms: int | None = None
    at: float = 0.0
    playing: bool = False

    def rebase(self, now: float) -> None:
        self.position_ms = self.position_ms_at(now)
        self.at = now

    def position_ms_at(self, now: float) -> int | None:
        if self.position_ms is None or self.position_ms == POSITION_END:
            return self.position_ms
        if not self.playing:
            return self.position_ms
        return self.position_ms + max(0, round((now - self.at) * 1000))


@dataclass(frozen=True)
class BluetoothView:
    """What the telemetry and ``evscreen probe bluetooth`` report about Bluetooth at one instant."""

    adapter_name: str
    adapter_path: str | None = None
    adapter_address: str | None = None
    powered: bool | None = None
    other_adapters: tuple[str, ...] = ()
    device_path: str | None = None
    device_address: str | None = None
    device_name: str | None = None
    player_path: str | None = None
    transport_path: str | None = None
    track: Track = Track()
    position: float | None = None
    status: str | None = None
    volume: float | None = None

    @property
    def adapter_present(self) -> bool:
        return self.adapter_path is not None

    @property
    def connected(self) -> bool:
        return self.device_path is not None

    @property
    def is_playing(self) -> bool | None:
        return None if self.status is None else self.status == "playing"

    def telemetry(self) -> dict[str, Any]:
        if not self.connected:
            media: dict[str, Any] = {
                "media.connected": False, "media.device_name": None, "media.track_title": None,
                "media.track_artist": None, "media.duration": None, "media.position": None,
                "media.is_playing": None,
            }
        else:
            media = {
                "media.connected": True,
                "media.device_name": self.device_name,
                "media.track_title": self.track.title,
                "media.track_artist": self.track.artist,
                "media.duration": self.track.duration,
                "media.position": self.position,
                "media.is_playing": self.is_playing,
            }
        media["connectivity.bluetooth"] = bool(self.powered and self.connected)
        return media


class BluezObjects:
    """A mirror of ``org.bluez``'s objects: path -> interface -> property -> plain value."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Properties]] = {}
        self.clocks: dict[str, PlayerClock] = {}

    # -- feeding it -----------------------------------------------------------------------------

    def clear(self) -> None:
        self.objects.clear()
        self.clocks.clear()

    def replace(self, managed: Any, now: float) -> None:
        """Start over from a ``GetManagedObjects`` reply (``a{oa{sa{sv}}}``)."""
        self.clear()
        if isinstance(managed, Mapping):
            for path, interfaces in managed.items():
                self.add(path, interfaces, now)

    def add(self, path: Any, interfaces: Any, now: float) -> None:
        """``InterfacesAdded``: new interfaces (with all their properties) on ``path``."""
        if not isinstance(path, str) or not isinstance(interfaces, Mapping):
            return
        node = self.objects.setdefault(path, {})
        for name, props in interfaces.items():
            if isinstance(name, str) and isinstance(props, Mapping):
                node[name] = {k: v for k, v in props.items() if isinstance(k, str)}
                if name == PLAYER:
                    self.clocks[path] = PlayerClock()
                    self._observe_player(path, node[name], now)

    def remove(self, path: Any, names: Any) -> None:
        """``InterfacesRemoved``: those interfaces are gone from ``path``."""
        node = self.objects.get(path) if isinstance(path, str) else None
        if node is None or not isinstance(names, (list, tuple)):
            return
        for name in names:
            if isinstance(name, str):
                node.pop(name, None)
            if name == PLAYER:
                self.clocks.pop(path, None)
        if not node:
            del self.objects[path]

    def change(self, path: Any, interface: Any, changed: Any, invalidated: Any, now: float) -> bool:
        """``PropertiesChanged``; True if it touched an object we know."""
        props = self.objects.get(path, {}).get(interface) if isinstance(path, str) else None
        if props is None or not isinstance(changed, Mapping):
            return False  # BlueZ announces objects before changing them; anything else is noise
        if interface == PLAYER:
            clock = self.clocks.setdefault(path, PlayerClock())
            if "Status" in changed or "Position" in changed:
                clock.rebase(now)  # freeze the extrapolated position where the old status left it
        props.update((k, v) for k, v in changed.items() if isinstance(k, str))
        if isinstance(invalidated, (list, tuple)):
            for name in invalidated:
                if isinstance(name, str):
                    props.pop(name, None)
        if interface == PLAYER:
            self._observe_player(path, props, now, position_changed="Position" in changed)
        return True

    def _observe_player(self, path: str, props: Properties, now: float, position_changed: bool = True) -> None:
        clock = self.clocks.setdefault(path, PlayerClock())
        if position_changed:
            clock.position_ms = _uint(props.get("Position"))
            clock.at = now
        clock.playing = props.get("Status") == "playing"

    # -- reading it -----------------------------------------------------------------------------

    def with_interface(self, interface: str) -> list[str]:
        return sorted(path for path, node in self.objects.items() if interface in node)

    def props(self, path: str | None, interface: str) -> Properties:
        if path is None:
            return {}
        return self.objects.get(path, {}).get(interface, {})

    def adapter_path(self, name: str) -> str | None:
        """The adapter called ``name`` (``hci0``); BlueZ puts it at ``/org/bluez/hci0``."""
        for path in self.with_interface(ADAPTER):
            if path.rsplit("/", 1)[-1] == name:
                return path
        return None

    def adapter_names(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for path in self.with_interface(ADAPTER)]

    def devices(self, adapter_path: str) -> list[str]:
        return [
            path for path in self.with_interface(DEVICE)
            if self.props(path, DEVICE).get("Adapter") == adapter_path or path.startswith(adapter_path + "/")
        ]

    def device_by_address(self, adapter_path: str, address: str) -> str | None:
        wanted = address.upper()
        for path in self.devices(adapter_path):
            found = self.props(path, DEVICE).get("Address")
            if isinstance(found, str) and found.upper() == wanted:
                return path
        return None

    def connected_device(self, adapter_path: str) -> str | None:
        """The connected device; one with a media player first (a phone rather than a headset)."""
        connected = [p for p in self.devices(adapter_path) if self.props(p, DEVICE).get("Connected") is True]
        with_player = [p for p in connected if self.player_of(p) is not None]
        return next(iter(with_player or connected), None)

    def _belongs_to(self, path: str, interface: str, device_path: str) -> bool:
        return self.props(path, interface).get("Device") == device_path or path.startswith(device_path + "/")

    def player_of(self, device_path: str) -> str | None:
        """The device's addressed player (``MediaControl1.Player``), else its playing one, else any."""
        addressed = _path(self.props(device_path, CONTROL).get("Player"))
        if addressed is not None and PLAYER in self.objects.get(addressed, {}):
            return addressed
        players = [p for p in self.with_interface(PLAYER) if self._belongs_to(p, PLAYER, device_path)]
        playing = [p for p in players if self.props(p, PLAYER).get("Status") == "playing"]
        return next(iter(playing or players), None)

    def transport_of(self, device_path: str) -> str | None:
        transports = [t for t in self.with_interface(TRANSPORT) if self._belongs_to(t, TRANSPORT, device_path)]
        active = [t for t in transports if self.props(t, TRANSPORT).get("State") == "active"]
        return next(iter(active or transports), None)

    def device_name(self, device_path: str) -> str | None:
        props = self.props(device_path, DEVICE)
        return clean_text(props.get("Alias")) or clean_text(props.get("Name")) or clean_text(props.get("Address"))

    def view(self, adapter_name: str, now: float) -> BluetoothView:
        adapter = self.adapter_path(adapter_name)
        others = tuple(n for n in self.adapter_names() if n != adapter_name)
        if adapter is None:
            return BluetoothView(adapter_name, other_adapters=others)
        adapter_props = self.props(adapter, ADAPTER)
        base = BluetoothView(
            adapter_name, adapter_path=adapter, adapter_address=clean_text(adapter_props.get("Address")),
            powered=_flag(adapter_props.get("Powered")), other_adapters=others,
        )
        device = self.connected_device(adapter)
        if device is None:
            return base
        player = self.player_of(device)
        transport = self.transport_of(device)
        player_props = self.props(player, PLAYER)
        track = Track.from_bluez(player_props.get("Track"))
        status = player_props.get("Status") if isinstance(player_props.get("Status"), str) else None
        position = None
        if player is not None:
            position_ms = self.clocks.get(player, PlayerClock()).position_ms_at(now)
            position = _position_seconds(position_ms, track.duration)
        return replace(
            base,
            device_path=device,
            device_address=clean_text(self.props(device, DEVICE).get("Address")),
            device_name=self.device_name(device),
            player_path=player,
            transport_path=transport,
            track=track,
            position=position,
            status=clean_text(status, 32),
            volume=volume_from_bluez(self.props(transport, TRANSPORT).get("Volume")),
        )


def _position_seconds(position_ms: int | None, duration: float | None) -> float | None:
    if position_ms is None:
        return None
    if position_ms == POSITION_END:
        return duration  # "the track has ended": at its end if we know where that is
    seconds = position_ms / 1000.0
    if duration is not None:
        seconds = min(seconds, duration)
    return round(seconds, 1)
