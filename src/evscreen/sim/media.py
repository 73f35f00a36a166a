"""A simulated media player: a playlist whose position advances while playing (pure).

It advances in simulated time, like the car, so a faster-than-real-time simulation plays faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass
class MediaPlayerModel:
    track: int = 0
    position: float = 0.0
    is_playing: bool = True
    device_name: str = "Simulated Phone"
    volume: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.track < len(PLAYLIST):
            raise ValueError(f"track must be 0-{len(PLAYLIST) - 1}, got {self.track}")

    def step(self, dt: float) -> None:
        if not self.is_playing:
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
        title, artist, duration = PLAYLIST[self.track]
        return {
            "media.connected": True,
            "media.device_name": self.device_name,
            "media.track_title": title,
            "media.track_artist": artist,
            "media.duration": duration,
            "media.position": round(self.position, 1),
            "media.is_playing": self.is_playing,
        }
