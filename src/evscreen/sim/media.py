"""A simulated phone: its media player and its Bluetooth link to the head unit (pure).

It advances in simulated time, like the car, so a faster-than-real-time simulation plays faster
and connects faster.

The head unit holds one phone at a time, as most do: connecting another device (``connect``,
what BlueZ's ``Device1.Connect`` does on a real car) drops the current one at once, and the new
one is connected :data:`CONNECT_S` later, playing the same playlist. While no phone is connected
the media fields are null and nothing plays, exactly as the real Bluetooth source reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evscreen.protocol import MAC_ADDRESS

PLAYLIST: tuple[tuple[str, str, float], ...] = (
    ("Midnight City", "M83", 243.0),
    ("Electric Feel", "MGMT", 229.0),
    ("Drive", "The Cars", 235.0),
    ("Roads", "Portishead", 305.0),
    ("Autobahn", "Kraftwerk", 274.0),
    ("Holocene", "Bon Iver", 337.0),
)

#: "previous" restarts the current track after this many seconds, like every phone does.
RESTART_THRESHOLD_S = 3.0

#: The phone connected at start. An address from RFC 7042's documentation range (00:00:5E:00:53:xx),
#: which no real device has.
SIMULATED_PHONE_ADDRESS = "00:00:5E:00:53:01"
SIMULATED_PHONE_NAME = "Simulated Phone"
#: Simulated seconds from Connect to a usable phone: a paired phone's link and its A2DP/AVRCP
#: profiles come up in one to three seconds.
CONNECT_S = 2.0


def phone_name(address: str) -> str:
    """The name a simulated phone at ``address`` goes by (a real one's is its Bluetooth alias)."""
    return SIMULATED_PHONE_NAME if address == SIMULATED_PHONE_ADDRESS else f"{SIMULATED_PHONE_NAME} {address}"


@dataclass
class MediaPlayerModel:
    track: int = 0
    position: float = 0.0
    is_playing: bool = True
    volume: float = 0.5
    device_address: str = SIMULATED_PHONE_ADDRESS
    connected: bool = True
    #: The address being connected, and the simulated seconds until it is.
    connecting: str | None = None
    connect_left: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.track < len(PLAYLIST):
            raise ValueError(f"track must be 0-{len(PLAYLIST) - 1}, got {self.track}")

    @property
    def device_name(self) -> str:
        return phone_name(self.device_address)

    def connect(self, address: str) -> bool:
        """Start connecting the phone at ``address``; True when it is the one already connected.

        Connecting the address already on its way changes nothing (its countdown runs on).
        """
        if not isinstance(address, str) or not MAC_ADDRESS.fullmatch(address):
            raise ValueError(f"device_address must be a MAC address like 00:1A:7D:DA:71:13, got {address!r}")
        address = address.upper()
        if self.connected and address == self.device_address:
            return True
        if address != self.connecting:
            self.connected = False
            self.connecting = address
            self.connect_left = CONNECT_S
        return False

    def cancel_connect(self) -> None:
        """Give up the connection on its way (the phone went out of range, the caller stopped waiting)."""
        self.connecting = None

    def step(self, dt: float) -> None:
        if self.connecting is not None:
            self.connect_left -= dt
            if self.connect_left > 1e-9:
                return
            self.device_address, self.connecting, self.connected = self.connecting, None, True
            dt = -self.connect_left  # the phone plays only the part of the step after it connected
        if not self.is_playing or not self.connected:
            return
        self.position += dt
        duration = PLAYLIST[self.track][2]
        while self.position >= duration:
            self.position -= duration
            self.track = (self.track + 1) % len(PLAYLIST)
            duration = PLAYLIST[self.track][2]

    def play(self) -> None:
        self.is_playing = True

    def pause(self) -> None:
        self.is_playing = False

    def next_track(self) -> None:
        self.track = (self.track + 1) % len(PLAYLIST)
        self.position = 0.0

    def previous_track(self) -> None:
        if self.position < RESTART_THRESHOLD_S:
            self.track = (self.track - 1) % len(PLAYLIST)
        self.position = 0.0

    def set_volume(self, volume: float) -> None:
        if isinstance(volume, bool) or not isinstance(volume, (int, float)) or not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume must be a number from 0.0 to 1.0, got {volume!r}")
        self.volume = float(volume)

    def telemetry(self) -> dict[str, Any]:
        """The media fields and the head unit's Bluetooth link (on while a phone is connected)."""
        if not self.connected:
            return {
                "media.connected": False, "media.device_name": None, "media.track_title": None,
                "media.track_artist": None, "media.duration": None, "media.position": None,
                "media.is_playing": None, "connectivity.bluetooth": False,
            }
        title, artist, duration = PLAYLIST[self.track]
        return {
            "connectivity.bluetooth": True,
            "media.connected": True,
            "media.device_name": self.device_name,
            "media.track_title": title,
            "media.track_artist": artist,
            "media.duration": duration,
            "media.position": round(self.position, 1),
            "media.is_playing": self.is_playing,
        }
