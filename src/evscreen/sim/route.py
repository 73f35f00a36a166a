"""Where the car is: a road through rolling country, followed by the distance driven (pure).

The road's shape is a function of the distance along it: its height is a sum of two seeded sine
waves (so the grade the dynamics feel and the altitude the GPS reports are the same road), and
its heading bends gently with seeded curvature. At some stops the car turns at the junction.
Position advances by the distance actually driven, on the WGS-84 ellipsoid's local radii, so the
GPS track is consistent with the simulated speed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

WGS84_A = 6_378_137.0
WGS84_E2 = 6.69437999014e-3
TURN_RADIUS_M = 12.0
TURN_PROBABILITY = 0.4  # of turning left or right when pulling away from a stop


@dataclass(frozen=True)
class RoadShape:
    """Altitude and curvature as functions of the distance along the road."""

    base_altitude_m: float
    hills: tuple[tuple[float, float, float], ...]  # (amplitude m, wavelength m, phase rad)
    bends: tuple[tuple[float, float, float], ...]  # (curvature 1/m, wavelength m, phase rad)

    @classmethod
    def from_rng(cls, rng: random.Random) -> RoadShape:
        hills = ((rng.uniform(8.0, 14.0), rng.uniform(2500.0, 4000.0), rng.uniform(0, 2 * math.pi)),
                 (rng.uniform(1.5, 3.0), rng.uniform(600.0, 900.0), rng.uniform(0, 2 * math.pi)))
        bends = ((rng.uniform(1 / 900, 1 / 500), rng.uniform(900.0, 1600.0), rng.uniform(0, 2 * math.pi)),)
        return cls(rng.uniform(300.0, 600.0), hills, bends)

    def altitude(self, s: float) -> float:
        return self.base_altitude_m + sum(a * math.sin(2 * math.pi * s / w + p) for a, w, p in self.hills)

    def grade(self, s: float) -> float:
        """dh/ds, the slope's rise over run."""
        return sum(a * 2 * math.pi / w * math.cos(2 * math.pi * s / w + p) for a, w, p in self.hills)

    def curvature(self, s: float) -> float:
        return sum(k * math.sin(2 * math.pi * s / w + p) for k, w, p in self.bends)


@dataclass
class Route:
    shape: RoadShape
    latitude: float
    longitude: float
    heading_deg: float
    distance_m: float = 0.0
    pending_turn_rad: float = 0.0
    satellites: int = 9

    @classmethod
    def from_rng(cls, rng: random.Random, latitude: float, longitude: float) -> Route:
        return cls(
            RoadShape.from_rng(rng),
            latitude + rng.uniform(-0.03, 0.03),
            longitude + rng.uniform(-0.04, 0.04),
            rng.uniform(0.0, 360.0),
            satellites=rng.randint(7, 11),
        )

    @property
    def altitude(self) -> float:
        return self.shape.altitude(self.distance_m)

    @property
    def grade(self) -> float:
        return self.shape.grade(self.distance_m)

    def at_stop(self, rng: random.Random) -> None:
        """The car has stopped at a junction: maybe it will turn when it pulls away."""
        if self.pending_turn_rad == 0.0 and rng.random() < TURN_PROBABILITY:
            self.pending_turn_rad = rng.choice((-1.0, 1.0)) * math.pi / 2

    def advance(self, ds: float) -> None:
        """Move ``ds`` metres along the road."""
        if ds <= 0.0:
            return
        turn = self.shape.curvature(self.distance_m) * ds
        if self.pending_turn_rad:
            step = min(abs(self.pending_turn_rad), ds / TURN_RADIUS_M)
            step = math.copysign(step, self.pending_turn_rad)
            self.pending_turn_rad -= step
            if abs(self.pending_turn_rad) < 1e-9:
                self.pending_turn_rad = 0.0
            turn += step
        # Move along the mean heading of this step (midpoint rule keeps arcs accurate).
        heading = math.radians(self.heading_deg) + turn / 2.0
        lat = math.radians(self.latitude)
        sin_lat = math.sin(lat)
        w = 1.0 - WGS84_E2 * sin_lat * sin_lat
        meridian_radius = WGS84_A * (1.0 - WGS84_E2) / w**1.5
        normal_radius = WGS84_A / math.sqrt(w)
        self.latitude += math.degrees(ds * math.cos(heading) / meridian_radius)
        self.longitude += math.degrees(ds * math.sin(heading) / (normal_radius * math.cos(lat)))
        self.longitude = (self.longitude + 180.0) % 360.0 - 180.0
        self.heading_deg = (self.heading_deg + math.degrees(turn)) % 360.0
        self.distance_m += ds

    def update_satellites(self, rng: random.Random, dt: float) -> None:
        """Satellites rise and set: now and then one more or one fewer is in view (6-12)."""
        if rng.random() < dt / 40.0:
            self.satellites = min(12, max(6, self.satellites + rng.choice((-1, 1))))
