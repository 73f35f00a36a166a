"""The BlueZ object mirror and the media telemetry read from it (pure: no bus)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.drivers.bluetooth.errors import command_failed
from evscreen.drivers.bluetooth.objects import (
    ADAPTER,
    CONTROL,
    DEVICE,
    MAX_TEXT,
    PLAYER,
    POSITION_END,
    TRANSPORT,
    BluezObjects,
    Track,
    clean_text,
    volume_to_bluez,
)
from evscreen.state import STATE_PATHS

HCI0 = "/org/bluez/hci0"
PHONE = f"{HCI0}/dev_AC_37_43_A1_B2_C3"
PLAYER0 = f"{PHONE}/player0"
FD0 = f"{PHONE}/fd0"


def car(status: str = "playing", position: int = 10_000, connected: bool = True) -> BluezObjects:
    objects = BluezObjects()
    objects.replace({
        HCI0: {ADAPTER: {"Address": "B8:27:EB:00:00:01", "Powered": True}},
        PHONE: {DEVICE: {"Address": "AC:37:43:A1:B2:C3", "Alias": "Pixel 7", "Connected": connected, "Adapter": HCI0}},
        PLAYER0: {PLAYER: {"Status": status, "Position": position, "Device": PHONE,
                           "Track": {"Title": "Teardrop", "Artist": "Massive Attack", "Duration": 330_000}}},
        FD0: {TRANSPORT: {"Device": PHONE, "State": "active", "Volume": 127}},
    }, now=100.0)
    return objects


def test_view_of_a_connected_phone() -> None:
    view = car().view("hci0", now=100.0)
    assert view.telemetry() == {
        "media.connected": True, "media.device_name": "Pixel 7", "media.track_title": "Teardrop",
        "media.track_artist": "Massive Attack", "media.duration": 330.0, "media.position": 10.0,
        "media.is_playing": True, "connectivity.bluetooth": True,
    }
    assert (view.player_path, view.transport_path, view.volume) == (PLAYER0, FD0, 1.0)
    assert set(view.telemetry()) <= STATE_PATHS


def test_position_advances_while_playing_and_freezes_on_pause() -> None:
    objects = car()
    assert objects.view("hci0", now=102.5).position == 12.5
    objects.change(PLAYER0, PLAYER, {"Status": "paused"}, [], now=104.0)
    assert objects.view("hci0", now=104.0).position == 14.0
    assert objects.view("hci0", now=200.0).position == 14.0  # paused: the clock does not move it
    objects.change(PLAYER0, PLAYER, {"Status": "playing"}, [], now=300.0)
    assert objects.view("hci0", now=301.0).position == 15.0
    objects.change(PLAYER0, PLAYER, {"Position": 2_000}, [], now=302.0)  # a seek or a new report wins
    assert objects.view("hci0", now=303.0).position == 3.0


def test_position_never_passes_the_duration_and_the_end_marker_means_the_end() -> None:
    objects = car(position=329_000)
    assert objects.view("hci0", now=110.0).position == 330.0
    objects.change(PLAYER0, PLAYER, {"Position": POSITION_END}, [], now=111.0)
    assert objects.view("hci0", now=111.0).position == 330.0
    objects.change(PLAYER0, PLAYER, {"Track": {"Title": "No duration"}}, [], now=112.0)
    assert objects.view("hci0", now=112.0).position is None  # the end of a track of unknown length


def test_disconnected_phone_reads_as_not_connected_with_nulls() -> None:
    telemetry = car(connected=False).view("hci0", now=100.0).telemetry()
    assert telemetry["media.connected"] is False and telemetry["connectivity.bluetooth"] is False
    assert {k: v for k, v in telemetry.items() if k not in ("media.connected", "connectivity.bluetooth")} == {
        "media.device_name": None, "media.track_title": None, "media.track_artist": None, "media.duration": None,
        "media.position": None, "media.is_playing": None,
    }


def test_removing_the_player_keeps_the_device_and_nulls_the_track() -> None:
    objects = car()
    objects.remove(PLAYER0, [PLAYER])
    view = objects.view("hci0", now=100.0)
    assert view.connected and view.player_path is None
    assert (view.track.title, view.position, view.is_playing) == (None, None, None)
    objects.remove(PHONE, [DEVICE])
    assert objects.view("hci0", now=100.0).telemetry()["media.connected"] is False


def test_powered_off_adapter_is_not_connectivity() -> None:
    objects = car()
    objects.change(HCI0, ADAPTER, {"Powered": False}, [], now=101.0)
    assert objects.view("hci0", now=101.0).telemetry()["connectivity.bluetooth"] is False


def test_adapter_is_chosen_by_name() -> None:
    objects = car()
    assert objects.view("hci1", now=0).adapter_present is False
    assert objects.view("hci1", now=0).other_adapters == ("hci0",)
    assert objects.view("hci1", now=0).telemetry()["media.connected"] is False


def test_addressed_player_and_active_transport_are_preferred() -> None:
    objects = car(status="paused")
    other = f"{PHONE}/player1"
    objects.add(other, {PLAYER: {"Status": "paused", "Device": PHONE, "Track": {"Title": "Podcast"}}}, now=0)
    assert objects.player_of(PHONE) == PLAYER0
    objects.change(other, PLAYER, {"Status": "playing"}, [], now=0)
    assert objects.player_of(PHONE) == other  # the one playing
    objects.add(PHONE, {CONTROL: {"Connected": True, "Player": PLAYER0}}, now=0)
    assert objects.player_of(PHONE) == PLAYER0  # the phone says which one it is addressing
    objects.add(f"{PHONE}/fd1", {TRANSPORT: {"Device": PHONE, "State": "idle"}}, now=0)
    objects.change(FD0, TRANSPORT, {"State": "idle"}, [], now=0)
    objects.change(f"{PHONE}/fd1", TRANSPORT, {"State": "active"}, [], now=0)
    assert objects.transport_of(PHONE) == f"{PHONE}/fd1"


def test_a_connected_phone_wins_over_a_connected_headset() -> None:
    objects = car()
    headset = f"{HCI0}/dev_00_11_22_33_44_55"
    objects.add(headset, {DEVICE: {"Address": "00:11:22:33:44:55", "Connected": True, "Adapter": HCI0}}, now=0)
    assert objects.connected_device(HCI0) == PHONE
    assert objects.device_by_address(HCI0, "00:11:22:33:44:55") == headset
    assert objects.device_by_address(HCI0, "ac:37:43:a1:b2:c3") == PHONE


def test_invalidated_properties_become_unknown() -> None:
    objects = car()
    objects.change(PLAYER0, PLAYER, {}, ["Track", "Status"], now=100.0)
    view = objects.view("hci0", now=100.0)
    assert (view.track, view.is_playing) == (Track(), None)


def test_changes_to_unknown_objects_are_ignored() -> None:
    objects = car()
    assert objects.change(f"{HCI0}/dev_FF_FF_FF_FF_FF_FF", DEVICE, {"Connected": True}, [], now=0) is False
    assert objects.change(PHONE, "org.bluez.Battery1", {"Percentage": 50}, [], now=0) is False
    assert objects.view("hci0", now=100.0).device_path == PHONE


@pytest.mark.parametrize(
    ("track", "expected"),
    [
        ({"Title": "A", "Artist": "B", "Duration": 1500}, Track("A", "B", 1.5)),
        ({}, Track()),
        ({"Title": 7, "Artist": ["x"], "Duration": "long"}, Track()),
        ({"Title": "", "Artist": "   ", "Duration": 0}, Track()),
        ({"Duration": True}, Track()),
        ({"Duration": -5}, Track()),
        ({"Duration": POSITION_END}, Track()),
        ({"Duration": 1.5}, Track()),
        ({"Title": "line\nbreak\x00and\x1bescape"}, Track("line break and escape")),
        ("not a dict", Track()),
        (None, Track()),
        ([("Title", "x")], Track()),
    ],
)
def test_track_from_hostile_bus_data(track: object, expected: Track) -> None:
    assert Track.from_bluez(track) == expected


def test_long_text_is_clipped() -> None:
    text = clean_text("x" * 10_000)
    assert text is not None and len(text) == MAX_TEXT and text.endswith("…")


def test_volume_mapping() -> None:
    assert [volume_to_bluez(v) for v in (0.0, 0.25, 0.5, 1.0)] == [0, 32, 64, 127]
    with pytest.raises(ValueError):
        volume_to_bluez(math.nan)


def test_bluez_errors_become_protocol_errors_with_bluez_text() -> None:
    refused = command_failed("connecting AC:37:43:A1:B2:C3", "org.bluez.Error.Failed", "br-connection-refused")
    assert refused.code == "unavailable"
    assert str(refused) == "connecting AC:37:43:A1:B2:C3 failed: org.bluez.Error.Failed: br-connection-refused"
    assert command_failed("x", "org.bluez.Error.DoesNotExist", "Does Not Exist").code == "invalid_value"
    assert "bluetooth group" in str(command_failed("x", "org.freedesktop.DBus.Error.AccessDenied", "denied"))
    hostile = command_failed("x", "org.bluez.Error.Failed", "\x1b[31m" + "y" * 5000)
    assert "\x1b" not in str(hostile) and len(str(hostile)) < 300


# Anything dbus-fast can hand us after unwrapping variants: scalars, strings, lists and dicts.
bus_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
paths = st.sampled_from([HCI0, PHONE, PLAYER0, FD0, "/", "", "not/a/path", f"{HCI0}/dev_00"]) | st.text(max_size=10)
interfaces = st.sampled_from([ADAPTER, DEVICE, PLAYER, TRANSPORT, CONTROL, "org.example"]) | st.text(max_size=8)
props = st.dictionaries(
    st.sampled_from(["Title", "Track", "Status", "Position", "Connected", "Device", "Adapter", "Address", "Alias",
                     "Powered", "Volume", "State", "Player", "Duration"]) | st.text(max_size=6),
    bus_values, max_size=6,
)
events = st.one_of(
    st.tuples(st.just("add"), paths, st.dictionaries(interfaces, props | bus_values, max_size=3)),
    st.tuples(st.just("remove"), paths, st.lists(interfaces, max_size=3) | bus_values),
    st.tuples(st.just("change"), paths, interfaces, props | bus_values, st.lists(st.text(max_size=8), max_size=3)),
    st.tuples(st.just("replace"), bus_values),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(events, max_size=8), st.floats(0, 1e6))
def test_hostile_event_sequences_never_raise_and_never_invent_types(seq: list[tuple], now: float) -> None:
    objects = car()
    for event in seq:
        kind, *args = event
        if kind == "add":
            objects.add(args[0], args[1], now)
        elif kind == "remove":
            objects.remove(args[0], args[1])
        elif kind == "change":
            objects.change(args[0], args[1], args[2], args[3], now)
        else:
            objects.replace(args[0], now)
    telemetry = objects.view("hci0", now + 1.0).telemetry()
    assert set(telemetry) <= STATE_PATHS
    for name in ("media.connected", "connectivity.bluetooth"):
        assert isinstance(telemetry[name], bool)
    for name in ("media.device_name", "media.track_title", "media.track_artist"):
        assert telemetry[name] is None or (isinstance(telemetry[name], str) and 0 < len(telemetry[name]) <= MAX_TEXT)
    for name in ("media.duration", "media.position"):
        value = telemetry[name]
        assert value is None or (isinstance(value, float) and math.isfinite(value) and value >= 0)
    assert telemetry["media.is_playing"] in (None, True, False)
