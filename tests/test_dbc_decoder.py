"""The compiled decoder equals cantools' decode_message, value for value and type for type."""

from __future__ import annotations

import math
from typing import Any

import pytest
from cantools.database.can import Database, Message, Signal
from cantools.database.conversion import BaseConversion
from cantools.database.errors import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canhelpers import KONA_DBC
from evscreen.can.dbc import PROJECT_DBC
from evscreen.can.dbc.decoder import DbcDecoder
from evscreen.can.dbc.loader import load_database, load_decoder
from evscreen.can.dbc.spec import spec_from_cantools

PROJECT_DB, _ = load_database(PROJECT_DBC)
KONA_DB, _ = load_database(KONA_DBC)
PROJECT = load_decoder(PROJECT_DBC, cache=False)
KONA = load_decoder(KONA_DBC, cache=False)


def same_value(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, float) and math.isnan(theirs):
        return isinstance(ours, float) and math.isnan(ours)
    return type(ours) is type(theirs) and ours == theirs


def assert_same(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        if hasattr(value, "name") and hasattr(value, "value"):  # NamedSignalValue
            assert ours[name] == value.name, name
        else:
            assert same_value(ours[name], value), (name, ours[name], value)


def check_frame(db: Database, decoder: DbcDecoder, message: Message, data: bytes, choices: bool = False) -> None:
    try:
        expected = db.decode_message(message.frame_id, data, decode_choices=choices, allow_truncated=True,
                                     force_extended_id=message.is_extended_frame)
    except DecodeError:
        expected = None
    compiled = decoder.find(message.frame_id, message.is_extended_frame)
    assert compiled is not None and compiled.name == message.name
    result = compiled.decode_frame(data, choices)
    if expected is None:
        # cantools rejects an undefined multiplexer value; we keep what is outside the group.
        assert result.unknown_mux is not None
        return
    assert result.unknown_mux is None
    assert_same(result.signals, expected)
    if len(data) >= message.length:
        assert_same(compiled.decode(data, choices), expected)
        assert result.missing == ()
    else:
        assert set(result.missing) | set(result.signals) >= set(expected)
        assert not set(result.missing) & set(result.signals)


def payloads(length: int) -> st.SearchStrategy[bytes]:
    full = st.binary(min_size=length, max_size=length)
    return st.one_of(full, full, st.binary(min_size=0, max_size=length + 4))


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("message", PROJECT_DB.messages, ids=lambda m: m.name)
@FAST
@given(data=st.data())
def test_project_dbc_matches_cantools(message: Message, data: st.DataObject) -> None:
    payload = data.draw(payloads(message.length))
    check_frame(PROJECT_DB, PROJECT, message, payload)
    check_frame(PROJECT_DB, PROJECT, message, payload, choices=True)


@pytest.mark.parametrize("message", KONA_DB.messages, ids=lambda m: m.name)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_kona_pcan_dbc_matches_cantools(message: Message, data: st.DataObject) -> None:
    payload = data.draw(payloads(message.length))
    check_frame(KONA_DB, KONA, message, payload)
    check_frame(KONA_DB, KONA, message, payload, choices=True)


CONVERSION_KINDS = {"IdentityConversion": "identity", "LinearIntegerConversion": "int", "LinearConversion": "linear"}


def test_cantools_still_lays_out_what_the_spec_reads() -> None:
    """spec.py reads two private parts of cantools, which is why pyproject bounds its version: each
    message's codec tree (``_codecs``) and the conversion a NamedSignalConversion wraps
    (``_conversion``). A cantools that moves them fails here by name; the property tests above
    would only show wrong values."""
    for db in (PROJECT_DB, KONA_DB):
        spec = {m["name"]: m for m in spec_from_cantools(db)["messages"]}
        for message in db.messages:
            codecs = message._codecs
            assert {"signals", "multiplexers"} <= set(codecs), message.name
            assert {s.name for s in codecs["signals"]} <= {s.name for s in message.signals}, message.name
            for signal in message.signals:
                conversion = signal.conversion
                if signal.choices:
                    assert type(conversion).__name__ == "NamedSignalConversion", signal.name
                    conversion = conversion._conversion
                kind = CONVERSION_KINDS.get(type(conversion).__name__)
                assert kind is not None, f"{signal.name}: unknown conversion {type(conversion).__name__}"
                # ...and the spec took it from that object, not from its fallback for unknown ones.
                assert spec[message.name]["signals"][signal.name]["conv"] == kind, signal.name


def test_project_dbc_exercises_every_path() -> None:
    """The project DBC is the decoder's daily use: it must carry each kind of signal."""
    signals = [s for m in PROJECT_DB.messages for s in m.signals]
    assert any(m.is_extended_frame for m in PROJECT_DB.messages)
    assert any(m.is_multiplexed() for m in PROJECT_DB.messages)
    assert any(s.is_float and s.byte_order == "big_endian" for s in signals)
    assert any(s.is_float and s.byte_order == "little_endian" for s in signals)
    assert any(s.is_signed and s.byte_order == "big_endian" for s in signals)
    assert any(s.is_signed and s.byte_order == "little_endian" for s in signals)
    assert any(s.choices for s in signals)
    assert all(m.cycle_time for m in PROJECT_DB.messages)


# --- random layouts: every bit position, width, byte order, sign and scaling ------------------

SCALES = st.sampled_from([1, 1.0, 2, 0.5, 0.1, 0.01, 0.03125, -0.25, 1e-6, 3])
OFFSETS = st.sampled_from([0, 0.0, -40, 100, 0.5, -273.15, 1e3])


@st.composite
def signals(draw: Any, length_bytes: int, name: str) -> Signal:
    nbits = 8 * length_bytes
    is_float = draw(st.booleans()) if nbits >= 32 and draw(st.integers(0, 4)) == 0 else False
    if is_float:
        width = draw(st.sampled_from([w for w in (32, 64) if w <= nbits]))
    else:
        width = draw(st.integers(1, min(64, nbits)))
    first = draw(st.integers(0, nbits - width))
    big = draw(st.booleans())
    start = 8 * (first // 8) + 7 - first % 8 if big else first
    scale = 1 if is_float and draw(st.booleans()) else draw(SCALES)
    offset = draw(OFFSETS)
    choices = draw(st.none() | st.dictionaries(st.integers(0, 3), st.sampled_from(["a", "b", "c"]), max_size=3))
    return Signal(
        name=name, start=start, length=width, byte_order="big_endian" if big else "little_endian",
        is_signed=draw(st.booleans()) and not is_float,
        conversion=BaseConversion.factory(scale=scale, offset=offset, choices=choices or None, is_float=is_float),
    )


def occupied(s: Signal) -> set[int]:
    """Physical bits (byte * 8 + bit) a signal covers."""
    if s.byte_order == "little_endian":
        return set(range(s.start, s.start + s.length))
    first = 8 * (s.start // 8) + 7 - s.start % 8
    return {8 * (j // 8) + 7 - j % 8 for j in range(first, first + s.length)}


@st.composite
def messages(draw: Any) -> Message:
    length = draw(st.sampled_from([1, 2, 3, 5, 8, 8, 8, 12, 64]))
    multiplexed = draw(st.booleans())
    used: set[int] = {0, 1} if multiplexed else set()
    sigs = []
    for i in range(draw(st.integers(1, 6))):
        s = draw(signals(length, f"S{i}"))
        bits = occupied(s)
        if bits & used:  # cantools (bitstruct) cannot decode overlapping signals; we can, but cannot compare
            continue
        used |= bits
        sigs.append(s)
    if multiplexed:
        mux = Signal(name="Mux", start=0, length=2, byte_order="little_endian", is_multiplexer=True)
        for s in sigs[1:]:
            s.multiplexer_signal = "Mux"
            s.multiplexer_ids = sorted(draw(st.sets(st.integers(0, 2), min_size=1, max_size=2)))
        sigs = [mux, *sigs]
    extended = draw(st.booleans())
    frame_id = draw(st.integers(0, 0x1FFFFFFF if extended else 0x7FF))
    return Message(frame_id=frame_id, name="M", length=length, signals=sigs, is_extended_frame=extended,
                   strict=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=messages(), data=st.data())
def test_random_layouts_match_cantools(message: Message, data: st.DataObject) -> None:
    db = Database(messages=[message], strict=False)
    db.refresh()
    decoder = DbcDecoder(spec_from_cantools(db))
    for _ in range(3):
        check_frame(db, decoder, message, data.draw(payloads(message.length)))


# --- lookups ----------------------------------------------------------------------------------


def test_extended_and_standard_ids_are_separate() -> None:
    tpms = PROJECT_DB.get_message_by_name("TPMS_TirePressures")
    assert PROJECT.find(tpms.frame_id, is_extended=True).name == "TPMS_TirePressures"
    assert PROJECT.find(tpms.frame_id, is_extended=False) is None
    assert PROJECT.find(0xA0) is not None and PROJECT.find(0xA0, is_extended=True) is None
    assert PROJECT.decode(0x7FF, b"\x00" * 8) is None


def test_short_payload_decodes_what_fits_and_names_the_rest() -> None:
    m = KONA.find(0x542)  # BMS_542: SocDisp in byte 0
    result = m.decode_frame(bytes([0x9B, 0x11, 0x22]))
    assert result.signals == {"SocDisp": 77.5, "uwe542_12_Backcounter": 0x2211}
    assert result.missing == ("unkCurrentRelated", "uwe542_78_UCCS")
    assert m.decode(b"") == {} and m.missing(0) == tuple(m.signals)


def test_longer_payload_decodes_the_declared_bytes() -> None:
    m = KONA.find(0x450)  # CGW_450 declares 3 bytes
    assert m.decode(bytes.fromhex("00C20512345678")) == m.decode(bytes.fromhex("00C205"))


def test_unknown_multiplexer_value_keeps_the_rest() -> None:
    m = PROJECT.message("BMS_BlockStatus")
    result = m.decode_frame(bytes([0x07, 0x50, 0, 0, 0, 0, 0, 0x30]))
    assert result.unknown_mux == "BlockIndex = 7"
    assert result.signals == {"BlockIndex": 7, "BlockCounter": 3}


def test_choice_names_on_request() -> None:
    m = PROJECT.message("VCU_DriveSettings")
    payload = bytes([0b1001, 80, 1, 0, 0, 0, 0, 0])  # DriveMode 1, RegenLevel 2
    assert m.decode(payload) == {"DriveMode": 1, "RegenLevel": 2, "ChargeLimit": 80, "ReadyState": 1}
    assert m.decode(payload, choices=True) == {"DriveMode": "normal", "RegenLevel": "standard", "ChargeLimit": 80,
                                               "ReadyState": "Ready"}


def test_project_dbc_round_trips_through_cantools_encoding() -> None:
    """What the simulated vehicle will encode with cantools, we decode back to the same values."""
    m = PROJECT_DB.get_message_by_name("BMS_PackStatus")
    data = m.encode({"PackVoltage": 356.4, "PackCurrent": -42.7, "PackPower": -15.22, "ContactorState": 2,
                     "BMS_Counter": 9, "BMS_Checksum": 0x5A})
    got = PROJECT.message("BMS_PackStatus").decode(data)
    assert got["PackVoltage"] == pytest.approx(356.4) and got["PackCurrent"] == pytest.approx(-42.7)
    assert got["PackPower"] == pytest.approx(-15.22) and got["ContactorState"] == 2
