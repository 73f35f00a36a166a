"""The pure protocol core: every action, valid and each kind of invalid."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.protocol import (
    ACTIONS,
    ErrorCode,
    Rejected,
    command_from_text,
    error_response,
    parse_command,
    success_response,
)

VALID = [
    ({"action": "play_music"}, None),
    ({"action": "pause_music"}, None),
    ({"action": "next_track"}, None),
    ({"action": "previous_track"}, None),
    ({"action": "set_volume", "volume": 0.7}, 0.7),
    ({"action": "set_volume", "value": 0}, 0.0),
    ({"action": "set_volume", "value": 1}, 1.0),
    ({"action": "set_charge_limit", "value": 50}, 50),
    ({"action": "set_charge_limit", "value": 100}, 100),
    ({"action": "set_regen_level", "value": "off"}, "off"),
    ({"action": "set_regen_level", "value": "high"}, "high"),
    ({"action": "set_drive_mode", "value": "eco"}, "eco"),
    ({"action": "set_drive_mode", "value": "sport"}, "sport"),
    ({"action": "set_brightness", "value": 0}, 0),
    ({"action": "set_brightness", "value": 100}, 100),
    ({"action": "set_theme", "value": True}, True),
    ({"action": "toggle_predictions", "value": False}, False),
    ({"action": "set_twin_mode", "value": "2d"}, "2d"),
    ({"action": "connect_bluetooth", "device_address": "00:1a:7d:da:71:13"}, "00:1A:7D:DA:71:13"),
]


@pytest.mark.parametrize(("message", "value"), VALID)
def test_valid_commands_parse(message, value):
    command = parse_command(json.dumps(message))
    assert command.action == message["action"]
    assert command.value == value
    assert type(command.value) is type(value)


def test_every_action_has_a_valid_example():
    assert {m["action"] for m, _ in VALID} == set(ACTIONS)


INVALID_VALUES = [
    {"action": "set_volume", "volume": 1.01},
    {"action": "set_volume", "volume": -0.1},
    {"action": "set_volume", "volume": "0.5"},
    {"action": "set_volume", "volume": True},
    {"action": "set_volume", "volume": None},
    {"action": "set_volume"},
    {"action": "set_charge_limit", "value": 49},
    {"action": "set_charge_limit", "value": 101},
    {"action": "set_charge_limit", "value": "80"},
    {"action": "set_charge_limit", "value": 80.5},
    {"action": "set_charge_limit", "value": 80.0},
    {"action": "set_charge_limit", "value": True},
    {"action": "set_charge_limit"},
    {"action": "set_regen_level", "value": "max"},
    {"action": "set_regen_level", "value": "HIGH"},
    {"action": "set_regen_level", "value": 2},
    {"action": "set_drive_mode", "value": "ludicrous"},
    {"action": "set_drive_mode", "value": ["eco"]},
    {"action": "set_brightness", "value": -1},
    {"action": "set_brightness", "value": 101},
    {"action": "set_brightness", "value": "50"},
    {"action": "set_theme", "value": 1},
    {"action": "set_theme", "value": "true"},
    {"action": "toggle_predictions", "value": None},
    {"action": "set_twin_mode", "value": "4d"},
    {"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71"},
    {"action": "connect_bluetooth", "device_address": "GG:1A:7D:DA:71:13"},
    {"action": "connect_bluetooth", "device_address": "00-1A-7D-DA-71-13"},
    {"action": "connect_bluetooth", "value": "00:1A:7D:DA:71:13"},
    {"action": "connect_bluetooth", "device_address": 12},
]


@pytest.mark.parametrize("message", INVALID_VALUES)
def test_invalid_values_are_rejected_with_their_action(message):
    with pytest.raises(Rejected) as info:
        parse_command(json.dumps(message))
    assert info.value.code is ErrorCode.INVALID_VALUE
    assert info.value.action == message["action"]
    assert str(info.value)


def test_error_message_names_the_setting_and_value():
    with pytest.raises(Rejected) as info:
        parse_command('{"action": "set_charge_limit", "value": 120}')
    assert str(info.value) == "charge_limit must be an integer from 50 to 100, got 120"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", ErrorCode.INVALID_JSON),
        ("{", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ('{"action": NaN}', ErrorCode.INVALID_JSON),
        ("[" * 100000 + "]" * 100000, ErrorCode.INVALID_JSON),
        ("1" * 5000, ErrorCode.INVALID_JSON),
        ("[]", ErrorCode.INVALID_MESSAGE),
        ('"play_music"', ErrorCode.INVALID_MESSAGE),
        ("42", ErrorCode.INVALID_MESSAGE),
        ("null", ErrorCode.INVALID_MESSAGE),
        ("{}", ErrorCode.INVALID_MESSAGE),
        ('{"action": 5}', ErrorCode.INVALID_MESSAGE),
        ('{"action": null}', ErrorCode.INVALID_MESSAGE),
        ('{"action": ["play_music"]}', ErrorCode.INVALID_MESSAGE),
        ('{"action": "self_destruct"}', ErrorCode.UNKNOWN_ACTION),
        ('{"action": "PLAY_MUSIC"}', ErrorCode.UNKNOWN_ACTION),
        ('{"action": "play_music", "request_id": {"a": 1}}', ErrorCode.INVALID_MESSAGE),
        ('{"action": "play_music", "request_id": true}', ErrorCode.INVALID_MESSAGE),
        ('{"action": "play_music", "request_id": "' + "x" * 200 + '"}', ErrorCode.INVALID_MESSAGE),
    ],
)
def test_malformed_messages(raw, code):
    with pytest.raises(Rejected) as info:
        parse_command(raw)
    assert info.value.code is code


def test_binary_frames_are_invalid_messages():
    with pytest.raises(Rejected) as info:
        parse_command(b'{"action": "play_music"}')
    assert info.value.code is ErrorCode.INVALID_MESSAGE


def test_request_id_is_echoed_in_errors_and_success():
    with pytest.raises(Rejected) as info:
        parse_command('{"action": "set_drive_mode", "value": "warp", "request_id": "abc"}')
    response = info.value.response()
    assert response == {
        "type": "response", "action": "set_drive_mode", "status": "error", "code": "invalid_value",
        "error": info.value.args[0], "request_id": "abc",
    }
    assert parse_command('{"action": "play_music", "request_id": 7}').request_id == 7
    assert success_response("play_music", 7) == {
        "type": "response", "action": "play_music", "status": "success", "request_id": 7}
    assert "request_id" not in success_response("play_music")


def test_error_response_shape():
    assert error_response(None, "invalid_json", "bad") == {
        "type": "response", "action": None, "status": "error", "code": "invalid_json", "error": "bad"}


@pytest.mark.parametrize(
    ("action", "text", "expected"),
    [
        ("set_volume", "0.7", {"action": "set_volume", "volume": 0.7}),
        ("set_charge_limit", "80", {"action": "set_charge_limit", "value": 80}),
        ("set_theme", "true", {"action": "set_theme", "value": True}),
        ("set_theme", "light", {"action": "set_theme", "value": True}),
        ("set_theme", "Dark", {"action": "set_theme", "value": False}),
        ("set_regen_level", "off", {"action": "set_regen_level", "value": "off"}),
        ("set_drive_mode", "yes", {"action": "set_drive_mode", "value": "yes"}),  # a name, refused by the server
        ("toggle_predictions", "off", {"action": "toggle_predictions", "value": False}),
        ("set_drive_mode", "eco", {"action": "set_drive_mode", "value": "eco"}),
        ("set_twin_mode", "2d", {"action": "set_twin_mode", "value": "2d"}),
        ("connect_bluetooth", "00:1A:7D:DA:71:13",
         {"action": "connect_bluetooth", "device_address": "00:1A:7D:DA:71:13"}),
        ("play_music", None, {"action": "play_music"}),
        # Out of domain: typed, sent, and left for the server to refuse.
        ("set_charge_limit", "120", {"action": "set_charge_limit", "value": 120}),
    ],
)
def test_command_from_text_types_values(action, text, expected):
    assert command_from_text(action, text) == expected


def test_an_unknown_action_is_echoed_in_the_response():
    from pathlib import Path

    import jsonschema

    with pytest.raises(Rejected) as caught:
        parse_command('{"action": "fly", "request_id": 3}')
    response = caught.value.response()
    assert response["action"] == "fly" and response["code"] == "unknown_action" and response["request_id"] == 3
    schema = json.loads((Path(__file__).parent.parent / "docs" / "schema" / "response.json").read_text())
    jsonschema.validate(response, schema)
    with pytest.raises(Rejected) as caught:
        parse_command('{"action": 12}')
    assert caught.value.response()["action"] is None  # no string to echo


@pytest.mark.parametrize(("action", "text"), [("nope", None), ("play_music", "x"), ("set_drive_mode", None)])
def test_command_from_text_rejects_unusable_arguments(action, text):
    with pytest.raises(Rejected):
        command_from_text(action, text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"action": st.sampled_from(sorted(ACTIONS)) | st.text(max_size=12)},
                          optional={"value": json_values, "volume": json_values, "device_address": json_values,
                                    "request_id": json_values}).map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
))
def test_parser_never_raises_anything_but_rejected(raw):
    try:
        command = parse_command(raw)
    except Rejected as exc:
        response = exc.response()
        json.dumps(response)
        assert response["status"] == "error" and response["code"] in {c.value for c in ErrorCode}
        return
    assert command.action in ACTIONS
    if isinstance(command.value, float):
        assert math.isfinite(command.value)
