"""The persisted settings store."""

from __future__ import annotations

import json
import logging

import pytest

from evscreen.protocol import SETTING_CHECKS
from evscreen.settings import DEFAULT_SETTINGS, SettingsStore, atomic_write
from evscreen.sim.vehicle import VehicleModel


def test_the_defaults_are_valid_and_the_simulated_car_starts_with_them():
    assert set(DEFAULT_SETTINGS) == set(SETTING_CHECKS)
    for name, value in DEFAULT_SETTINGS.items():
        assert SETTING_CHECKS[name](value) == value, name
    car = VehicleModel(seed=1)
    assert (car.drive_mode, car.regen_level, car.charge_limit) == (
        DEFAULT_SETTINGS["drive_mode"], DEFAULT_SETTINGS["regen_level"], DEFAULT_SETTINGS["charge_limit"])


def test_defaults_then_persisted(tmp_path):
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    assert store.values == DEFAULT_SETTINGS
    store.set("drive_mode", "sport")
    store.set("charge_limit", 90)
    store.set("volume", 0.25)
    assert store.flush()
    assert json.loads(path.read_text())["drive_mode"] == "sport"
    again = SettingsStore(path)
    assert again.get("drive_mode") == "sport" and again.get("charge_limit") == 90 and again.get("volume") == 0.25


def test_set_validates_with_protocol_rules(tmp_path):
    store = SettingsStore(tmp_path / "s.json")
    with pytest.raises(ValueError):
        store.set("charge_limit", 120)
    with pytest.raises(ValueError):
        store.set("light_theme", "yes")
    with pytest.raises(KeyError):
        store.set("turbo", True)
    assert store.values == DEFAULT_SETTINGS
    assert not (tmp_path / "s.json").exists()


def test_listeners_hear_changes_and_a_failing_listener_does_not_undo(tmp_path, caplog):
    store = SettingsStore(tmp_path / "s.json")
    heard = []
    store.subscribe(lambda name, value: heard.append((name, value)))
    store.subscribe(lambda name, value: 1 / 0)
    with caplog.at_level(logging.ERROR):
        store.set("regen_level", "high")
    assert heard == [("regen_level", "high")]
    assert store.flush()
    assert SettingsStore(tmp_path / "s.json").get("regen_level") == "high"
    store.set("regen_level", "high")  # unchanged: no second notification
    assert heard == [("regen_level", "high")]


@pytest.mark.parametrize("content", [b"{not json", b"", b"\x00\xff\xfe", b"[1, 2]", b'"text"'])
def test_corrupt_file_is_moved_aside_and_defaults_used(tmp_path, caplog, content):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        store = SettingsStore(path)
    assert store.values == DEFAULT_SETTINGS
    assert not path.exists()
    aside = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert "corrupt" in caplog.text


def test_invalid_entries_fall_back_individually(tmp_path, caplog):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"drive_mode": "warp", "charge_limit": 70, "brightness": "x", "extra": 1}))
    with caplog.at_level(logging.WARNING):
        store = SettingsStore(path)
    assert store.get("drive_mode") == "normal"
    assert store.get("charge_limit") == 70
    assert store.get("brightness") == DEFAULT_SETTINGS["brightness"]
    assert "extra" in caplog.text and "warp" in caplog.text


def test_a_burst_of_changes_ends_with_the_last_values_on_disk(tmp_path):
    store = SettingsStore(tmp_path / "s.json")
    for i in range(500):
        store.set("brightness", i % 101)
        store.set("light_theme", i % 2 == 0)
    assert store.flush()
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["brightness"] == 499 % 101 and saved["light_theme"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "deep" / "file.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]
