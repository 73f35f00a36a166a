"""The DBC encoder against cantools' own encoder (the reference), and back through our decoder."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.can.dbc.encoder import MessageEncoder
from evscreen.can.dbc.loader import load_database, load_decoder

DB, _ = load_database()
DECODER = load_decoder()
ENCODERS = {m.name: MessageEncoder(m.spec) for m in DECODER.messages}
VARIANTS = [(name, v) for name, e in ENCODERS.items() for v in range(len(e.variants))]


def physical(message: str, variant: int, draw: Any) -> dict[str, Any]:
    """In-range physical values for every signal a frame of this variant carries (cantools' domain)."""
    encoder = ENCODERS[message]
    mux = encoder.variants[variant]
    values: dict[str, Any] = dict(mux)
    for name in encoder.signal_names(variant):
        if name in mux:
            continue
        signal = DB.get_message_by_name(message).get_signal_by_name(name)
        values[name] = draw(st.floats(signal.minimum, signal.maximum, allow_nan=False))
    return values


def test_every_message_and_multiplexer_value_has_a_variant() -> None:
    assert len(ENCODERS) == len(DB.messages)
    block = ENCODERS["BMS_BlockStatus"]
    assert block.variants == [{"BlockIndex": 0}, {"BlockIndex": 1}, {"BlockIndex": 2}]
    assert "BlockB_TempAvg" in block.signal_names(1) and "BlockA_TempAvg" not in block.signal_names(1)
    assert ENCODERS["TPMS_TirePressures"].is_extended and ENCODERS["MCU_Motor"].variants == [{}]


@pytest.mark.parametrize(("message", "variant"), VARIANTS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_payload_equals_cantools(message: str, variant: int, data: st.DataObject) -> None:
    values = physical(message, variant, data.draw)
    expected = DB.get_message_by_name(message).encode(values, strict=False)
    encoder = ENCODERS[message]
    assert encoder.encode(values, variant) == expected
    # The one-signal-at-a-time conversion is the same as the generated function's.
    bits = sum(encoder.signals[n].place(encoder.signals[n].raw(v)) for n, v in values.items())
    assert bits.to_bytes(encoder.length, "big") == expected


@pytest.mark.parametrize(("message", "variant"), VARIANTS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_our_decoder_reads_back_within_half_a_step(message: str, variant: int, data: st.DataObject) -> None:
    values = physical(message, variant, data.draw)
    decoded = DECODER.message(message).decode(ENCODERS[message].encode(values, variant))
    for name, value in values.items():
        spec = DECODER.message(message).signals[name]
        if spec["float"]:
            assert decoded[name] == pytest.approx(value, rel=1e-6, abs=1e-30)
        else:
            assert abs(decoded[name] - value) <= abs(spec["scale"]) / 2 + 1e-9, name


def test_values_beyond_the_range_saturate_like_a_sensor() -> None:
    pack = ENCODERS["BMS_PackStatus"]
    decode = DECODER.message("BMS_PackStatus").decode
    high = decode(pack.encode({"PackVoltage": 5000, "PackCurrent": 1e9, "PackPower": -1e9}))
    assert (high["PackVoltage"], high["PackCurrent"], high["PackPower"]) == (1000.0, 1000.0, -327.68)
    low = decode(pack.encode({"PackVoltage": -3, "PackCurrent": -4000}))
    assert (low["PackVoltage"], low["PackCurrent"]) == (0.0, -1000.0)
    motor = ENCODERS["MCU_Motor"]
    assert DECODER.message("MCU_Motor").decode(motor.encode({"MotorTemp": 10_000}))["MotorTemp"] == 215


def test_value_table_names_encode_to_their_raw_value() -> None:
    settings_ = ENCODERS["VCU_DriveSettings"]
    data = settings_.encode({"DriveMode": "sport", "RegenLevel": "off", "ChargeLimit": 90, "ReadyState": "Ready"})
    assert DECODER.message("VCU_DriveSettings").decode(data, choices=True) == {
        "DriveMode": "sport", "RegenLevel": "off", "ChargeLimit": 90, "ReadyState": "Ready"}
    assert data == DB.get_message_by_name("VCU_DriveSettings").encode(
        {"DriveMode": "sport", "RegenLevel": "off", "ChargeLimit": 90, "ReadyState": "Ready"})


@pytest.mark.parametrize(
    ("signal", "value", "error"),
    [
        ("DriveMode", "warp", "DriveMode: 'warp' is not in its value table"),
        ("ChargeLimit", "ninety", "ChargeLimit: 'ninety' is not in its value table"),
        ("ChargeLimit", math.nan, "ChargeLimit: cannot encode nan"),
        ("ChargeLimit", math.inf, "ChargeLimit: cannot encode inf"),
        ("DriveMode", -math.inf, "DriveMode: cannot encode -inf"),
    ],
)
def test_values_that_cannot_be_encoded_name_the_signal(signal: str, value: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ENCODERS["VCU_DriveSettings"].encode({signal: value})


def test_missing_signals_are_raw_zero_and_mux_values_are_set() -> None:
    assert ENCODERS["ESC_WheelSpeeds"].encode({}) == bytes(8)
    data = ENCODERS["BMS_BlockStatus"].encode({}, 2)
    assert DECODER.message("BMS_BlockStatus").decode(data, choices=True)["BlockIndex"] == "C"
