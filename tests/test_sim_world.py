"""Around the powertrain: seeds, GPS track, tyres, climate, the trip computer and the media player."""

from __future__ import annotations

import itertools
import math

import pytest

from evscreen.sim.body import atmospheric_pressure_psi
from evscreen.sim.climate import relative_humidity
from evscreen.sim.consumption import REFERENCE_WH_PER_KM, ConsumptionMeter, efficiency_score
from evscreen.sim.media import (
    CONNECT_S,
    PLAYLIST,
    RESTART_THRESHOLD_S,
    SIMULATED_PHONE_ADDRESS,
    SIMULATED_PHONE_NAME,
    MediaPlayerModel,
)
from evscreen.sim.vehicle import STEP_S, VehicleModel
from evscreen.state import STATE_PATHS
from sim_support import cached_run

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


# -- seeds ---------------------------------------------------------------------------------------


def drive(seed: int, steps: int, every: int = 25) -> list[dict]:
    model = VehicleModel(seed)
    samples = [model.telemetry()]
    for i in range(1, steps + 1):
        model.step()
        if i % every == 0:
            samples.append(model.telemetry())
    return samples


def test_the_same_seed_gives_the_same_drive_bit_for_bit() -> None:
    assert drive(11, 3000) == drive(11, 3000)


def test_another_seed_gives_another_drive() -> None:
    a, b = drive(11, 1000), drive(12, 1000)
    assert a[0] != b[0]  # a different car on a different day, from the first message on
    differing = {path for x, y in zip(a, b, strict=True) for path in x if x[path] != y[path]}
    assert {"ambient_temp", "humidity", "battery_soc", "gps.latitude", "gps.longitude", "gps.altitude"} <= differing


def test_telemetry_uses_only_known_paths_and_fills_the_vehicle_ones() -> None:
    values = VehicleModel(1).telemetry()
    assert set(values) <= STATE_PATHS
    # battery_pack reaches the screen through the BMS's diagnostic answers (sim/diag_ecus.py)
    vehicle_paths = {p for p in STATE_PATHS if not p.startswith(("media.", "connectivity.", "battery_pack."))}
    assert set(values) == vehicle_paths
    assert all(v is not None and not (isinstance(v, float) and not math.isfinite(v)) for v in values.values())


# -- GPS -----------------------------------------------------------------------------------------


def test_gps_track_matches_the_distance_driven() -> None:
    run = cached_run("udds")
    outs = run.outputs
    track = 0.0
    prev = outs[0]
    for out in outs[1:]:
        step = haversine_m(prev.latitude, prev.longitude, out.latitude, out.longitude)
        driven = out.odometer_m - prev.odometer_m
        assert step == pytest.approx(driven, rel=0.01, abs=0.01)
        if driven == 0.0:
            assert out.heading_deg == prev.heading_deg  # a parked car does not turn
        track += step
        prev = out
    assert track == pytest.approx(run.distance_km * 1000.0, rel=0.002)
    assert run.distance_km == pytest.approx(run.cycle.distance_m() / 1000.0, rel=0.01)


def test_altitude_is_the_road_the_dynamics_climb() -> None:
    outs = cached_run("hwfet").outputs
    climbed = sum(o.grade * (o.odometer_m - p.odometer_m) for p, o in itertools.pairwise(outs))
    assert outs[-1].altitude_m - outs[0].altitude_m == pytest.approx(climbed, abs=0.5)
    assert max(abs(o.grade) for o in outs) < 0.08  # rolling country, not an alpine pass
    assert max(o.altitude_m for o in outs) - min(o.altitude_m for o in outs) > 5.0


def test_heading_satellites_and_gps_speed_are_plausible() -> None:
    outs = cached_run("udds").outputs
    headings = [o.heading_deg for o in outs]
    assert all(0.0 <= h < 360.0 for h in headings)
    assert max(headings) - min(headings) > 20.0  # the road bends and the car turns at junctions
    assert {o.satellites for o in outs} <= set(range(6, 13))
    values = [VehicleModel(1).telemetry()] + [cached_run("udds").model.telemetry()]
    for v in values:
        assert v["gps.speed_gps"] == v["speed"]


# -- tyres and climate ---------------------------------------------------------------------------


def test_tyre_pressures_follow_their_temperature_by_the_gas_law() -> None:
    outs = cached_run("hwfet").outputs
    first, last = outs[0], outs[-1]
    for i in range(4):
        assert last.tyre_temps_c[i] > first.tyre_temps_c[i] + 5.0  # rolling work warms them
        assert last.tyre_pressures_psi[i] > first.tyre_pressures_psi[i] + 1.0
        # Fixed gas in a fixed volume: absolute pressure over absolute temperature is constant.
        ratios = [(o.tyre_pressures_psi[i] + atmospheric_pressure_psi(o.altitude_m)) / (o.tyre_temps_c[i] + 273.15)
                  for o in (first, outs[len(outs) // 2], last)]
        assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
        assert 30.0 < last.tyre_pressures_psi[i] < 45.0


def test_cabin_goes_to_its_set_point_and_eco_saves_on_it() -> None:
    results = {}
    for mode in ("normal", "eco"):
        model = VehicleModel(2, cabin_set_point=22.0)
        model.set_drive_mode(mode)
        model.cabin.temp_c = model.weather.temp_c  # a car left outside
        hvac_wh = 0.0
        for _ in range(int(1800 / STEP_S)):
            model.step()
            hvac_wh += model.cabin.hvac_electric_w * STEP_S / 3600
        results[mode] = (model.cabin.temp_c, hvac_wh, model.weather.temp_c)
    cabin, hvac_normal, ambient = results["normal"]
    assert abs(ambient - 22.0) > 3.0  # this seed's day is not already at the set point
    assert cabin == pytest.approx(22.0, abs=0.3)
    eco_cabin, hvac_eco, _ = results["eco"]
    assert abs(eco_cabin - 22.0) > abs(cabin - 22.0)  # eco relaxes the set point toward outside
    assert hvac_eco < hvac_normal


def test_weather_drifts_slowly_and_humidity_follows_the_air() -> None:
    model = VehicleModel(9)
    temps, hums = [], []
    for i in range(int(1800 / STEP_S)):
        model.step()
        if i % 600 == 0:  # every minute
            out = model.outputs()
            temps.append(out.ambient_temp_c)
            hums.append(out.humidity)
    assert max(abs(b - a) for a, b in itertools.pairwise(temps)) < 0.8  # °C per minute
    assert max(temps) - min(temps) < 5.0
    assert max(temps) != min(temps) and max(hums) != min(hums)  # it does drift
    assert all(5.0 <= h <= 100.0 for h in hums)
    # Magnus: the same moisture is a lower relative humidity in warmer air.
    assert relative_humidity(25.0, 10.0) < relative_humidity(15.0, 10.0) < relative_humidity(10.0, 10.0) == 100.0


# -- the trip computer ---------------------------------------------------------------------------


def test_range_is_the_usable_energy_at_the_recent_consumption() -> None:
    run = cached_run("udds")
    for out in run.outputs[::500]:
        stored = run.model.battery.energy_between_wh(0.0, out.battery_soc)
        assert out.range_km == pytest.approx(stored / out.consumption_wh_per_km, rel=0.01)
    last = run.outputs[-1]
    # After a city cycle the trip computer has learnt this car's real consumption.
    assert last.consumption_wh_per_km == pytest.approx(run.wh_per_km, rel=0.15)
    assert 250.0 < last.range_km < 600.0


def test_efficiency_score_rewards_economy() -> None:
    assert efficiency_score(REFERENCE_WH_PER_KM) == 5.0
    assert efficiency_score(0.5 * REFERENCE_WH_PER_KM) == 10.0
    assert efficiency_score(2.0 * REFERENCE_WH_PER_KM) == 0.0
    scores = [efficiency_score(w) for w in range(60, 260, 10)]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 10.0 for s in scores)
    # What the screen shows after a city cycle answers to how the car was driven.
    shown = [cached_run("udds", regen=level).model.outputs().efficiency_score for level in ("off", "low", "high")]
    assert shown == sorted(shown) and shown[0] < 3.0 < shown[-1]


def test_consumption_meter_books_standing_energy_to_the_next_distance() -> None:
    meter = ConsumptionMeter()
    meter.add(50.0, 0.0)  # climate while parked: no distance, no division by zero
    assert meter.long_wh_per_km == REFERENCE_WH_PER_KM
    for _ in range(2000):
        meter.add(6.0, 0.05)  # 120 Wh/km for 100 km
    assert meter.long_wh_per_km == pytest.approx(120.0, abs=0.5)  # the parked 50 Wh, nearly forgotten
    assert meter.short_wh_per_km == pytest.approx(120.0, abs=0.1)
    assert meter.range_km(12_000.0) == pytest.approx(100.0, rel=0.02)
    assert meter.range_km(-5.0) == 0.0


# -- media ---------------------------------------------------------------------------------------


def test_media_player_advances_and_obeys_commands() -> None:
    player = MediaPlayerModel()
    player.step(10.0)
    assert player.telemetry()["media.position"] == 10.0
    player.pause()
    player.step(10.0)
    assert player.telemetry()["media.position"] == 10.0 and player.telemetry()["media.is_playing"] is False
    player.play()
    player.step(PLAYLIST[0][2])  # runs over the end: the next track is playing
    assert player.track == 1 and player.position == pytest.approx(10.0)
    player.next_track()
    assert (player.track, player.position) == (2, 0.0)
    player.step(RESTART_THRESHOLD_S + 1)
    player.previous_track()  # restarts the track
    assert (player.track, player.position) == (2, 0.0)
    player.previous_track()  # at its start: the one before
    assert player.track == 1
    player.set_volume(0.25)
    assert player.volume == 0.25


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_media_player_refuses_bad_volumes(bad: object) -> None:
    player = MediaPlayerModel()
    with pytest.raises(ValueError, match="volume"):
        player.set_volume(bad)  # type: ignore[arg-type]
    assert player.volume == 0.5


def test_drive_mode_and_regen_level_refuse_unknown_values() -> None:
    model = VehicleModel(1)
    for setter, bad in ((model.set_drive_mode, "ludicrous"), (model.set_regen_level, "max"),
                        (model.set_drive_mode, None), (model.set_regen_level, 3),
                        (model.set_drive_mode, {"eco": 1}), (model.set_regen_level, ["high"])):
        with pytest.raises(ValueError):
            setter(bad)  # type: ignore[arg-type]
    assert (model.drive_mode, model.regen_level) == ("normal", "standard")


def test_connecting_another_phone_drops_the_current_one_then_connects_it() -> None:
    player = MediaPlayerModel()
    assert player.telemetry()["media.device_name"] == SIMULATED_PHONE_NAME
    assert player.connect(SIMULATED_PHONE_ADDRESS.lower()) is True  # already connected: nothing to do
    player.step(10.0)
    assert player.connect("aa:bb:cc:dd:ee:ff") is False
    gone = player.telemetry()
    assert gone["media.connected"] is False and gone["connectivity.bluetooth"] is False
    assert {k: v for k, v in gone.items() if k not in ("media.connected", "connectivity.bluetooth")} == {
        "media.device_name": None, "media.track_title": None, "media.track_artist": None,
        "media.duration": None, "media.position": None, "media.is_playing": None,
    }
    player.step(CONNECT_S / 2)
    assert player.connect("AA:BB:CC:DD:EE:FF") is False  # on its way: the countdown is not restarted
    player.step(CONNECT_S / 2 - STEP_S)
    assert player.telemetry()["media.connected"] is False
    player.step(STEP_S)
    now = player.telemetry()
    assert now["media.connected"] is True and now["connectivity.bluetooth"] is True
    assert now["media.device_name"] == f"{SIMULATED_PHONE_NAME} AA:BB:CC:DD:EE:FF"
    assert player.device_address == "AA:BB:CC:DD:EE:FF" and player.connecting is None
    # Nothing played while no phone was connected; the new one plays the same playlist on.
    assert now["media.position"] == 10.0 and now["media.is_playing"] is True
    assert player.connect("AA:BB:CC:DD:EE:FF") is True


def test_a_phone_connection_given_up_leaves_none_connected() -> None:
    player = MediaPlayerModel()
    player.connect("00:1A:7D:DA:71:13")
    player.step(CONNECT_S / 2)
    player.connect("00:1A:7D:DA:71:14")  # another phone instead: its own full countdown
    player.step(CONNECT_S / 2)
    assert player.connecting == "00:1A:7D:DA:71:14" and not player.connected
    player.cancel_connect()
    player.step(CONNECT_S * 2)
    assert player.telemetry()["media.connected"] is False and player.connecting is None


@pytest.mark.parametrize("address", ["", "AA:BB:CC:DD:EE", "GG:BB:CC:DD:EE:FF", "AA-BB-CC-DD-EE-FF", None, 12,
                                     "AA:BB:CC:DD:EE:FF\n", "AA:BB:CC:DD:EE:FF:00"])
def test_connecting_a_phone_needs_a_mac_address(address) -> None:
    player = MediaPlayerModel()
    with pytest.raises(ValueError, match="device_address must be a MAC address"):
        player.connect(address)
    assert player.connected and player.connecting is None
