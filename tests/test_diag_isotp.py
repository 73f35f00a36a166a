"""Passive ISO-TP reassembly: every frame type, both addressings, and every way a message breaks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.can.diag.isotp import (
    DiagMessage,
    FlowControl,
    IsoTpError,
    Reassembler,
    is_diagnostic_id,
    parse_frame,
    peer_ids,
    st_min_seconds,
)


def segment(payload: bytes, pad: int | None = 0xAA, first_sn: int = 1) -> list[bytes]:
    """A sender's classic-CAN frames for ``payload`` (the test's own, independent of the code)."""
    def padded(frame: bytes) -> bytes:
        return frame + bytes([pad]) * (8 - len(frame)) if pad is not None else frame

    if len(payload) <= 7:
        return [padded(bytes([len(payload)]) + payload)]
    frames = [bytes([0x10 | len(payload) >> 8, len(payload) & 0xFF]) + payload[:6]]
    sn = first_sn
    for i in range(6, len(payload), 7):
        frames.append(padded(bytes([0x20 | sn]) + payload[i:i + 7]))
        sn = (sn + 1) & 0x0F
    return frames


def feed_all(r: Reassembler, frames: list[bytes], frame_id: int = 0x7EC, extended: bool = False,
             t0: float = 0.0, step: float = 0.01, bus: str = "1") -> list[object]:
    events: list[object] = []
    for i, data in enumerate(frames):
        events += r.feed(t0 + i * step, bus, frame_id, extended, data)
    return events


def messages(events: list[object]) -> list[DiagMessage]:
    return [e for e in events if isinstance(e, DiagMessage)]


def errors(events: list[object]) -> list[IsoTpError]:
    return [e for e in events if isinstance(e, IsoTpError)]


def test_single_frame_ignores_padding():
    r = Reassembler()
    [msg] = r.feed(1.5, "1", 0x7EB, False, bytes.fromhex("0641008000000100"))
    assert msg == DiagMessage(1.5, "1", 0x7EB, False, bytes.fromhex("410080000001"), 1)


def test_multi_frame_from_the_real_log_with_flow_control():
    """The Kona BMS's ECU name (mode 09 0x0A) as recorded: FF, FC from the tester, 3 CFs."""
    r = Reassembler()
    events = []
    events += r.feed(0.0, "1", 0x7EC, False, bytes.fromhex("1017490A01424543"))
    events += r.feed(0.001, "1", 0x7E4, False, bytes.fromhex("3000000000000000"))
    events += r.feed(0.010, "1", 0x7EC, False, bytes.fromhex("214D2D422B456E65"))
    events += r.feed(0.020, "1", 0x7EC, False, bytes.fromhex("22726779437472 6C".replace(" ", "")))
    assert r.open_messages == 1
    events += r.feed(0.030, "1", 0x7EC, False, bytes.fromhex("23000000AAAAAAAA"))
    [fc] = [e for e in events if isinstance(e, FlowControl)]
    assert (fc.arbitration_id, fc.status, fc.block_size, fc.st_min_s) == (0x7E4, "continue", 0, 0.0)
    [msg] = messages(events)
    assert msg.payload == b"\x49\x0a\x01BECM-B+EnergyCtrl\x00\x00\x00"
    assert len(msg.payload) == 0x17 and msg.frames == 4 and msg.timestamp == 0.030
    assert r.open_messages == 0


def test_29_bit_addressing():
    payload = bytes(range(40))
    events = feed_all(Reassembler(), segment(payload), frame_id=0x18DAF1DA, extended=True)
    [msg] = messages(events)
    assert msg.payload == payload and msg.extended
    assert peer_ids(0x18DAF1DA, True) == (0x18DADAF1,)
    assert is_diagnostic_id(0x18DB33F1, True) and is_diagnostic_id(0x18DAF110, True)
    assert not is_diagnostic_id(0x18FEF100, True)
    assert not is_diagnostic_id(0x7DF, True)  # 0x7DF as a 29-bit ID is no OBD address


def test_non_diagnostic_ids_are_ignored():
    r = Reassembler()
    assert r.feed(0, "0", 0x542, False, bytes.fromhex("1014490201AAAAAA")) == []
    assert r.feed(0, "0", 0x6FF, False, bytes.fromhex("0210")) == []
    assert r.open_messages == 0


def test_sequence_numbers_wrap_after_15():
    payload = bytes(i & 0xFF for i in range(300))  # 43 consecutive frames: SN wraps twice
    events = feed_all(Reassembler(), segment(payload))
    assert [m.payload for m in messages(events)] == [payload]
    assert messages(events)[0].frames == len(segment(payload))


def test_out_of_sequence_frame_drops_the_message():
    frames = segment(bytes(range(30)))
    frames[2] = bytes([0x23]) + frames[2][1:]  # CF 3 where 2 is due
    r = Reassembler()
    events = feed_all(r, frames)
    assert messages(events) == []
    [err, *rest] = errors(events)
    assert err.kind == "out_of_sequence" and "3 where 2 was due" in err.detail
    assert err.partial == bytes(range(13))
    # the frames after it have no message to belong to any more
    assert [e.kind for e in rest] == ["unexpected", "unexpected"]
    assert r.open_messages == 0


def test_missing_consecutive_frames_reported_when_the_next_message_starts():
    first = segment(bytes(range(20)))[:2]  # FF and CF 1; CF 2 never comes
    second = segment(b"\x62\x01\x01\x05")
    events = feed_all(Reassembler(), first + second)
    [err] = errors(events)
    assert err.kind == "interrupted" and "13 of 20 bytes" in err.detail
    assert [m.payload for m in messages(events)] == [b"\x62\x01\x01\x05"]


def test_consecutive_frame_without_first_frame():
    events = Reassembler().feed(0, "1", 0x7A8, False, bytes.fromhex("2108921000099211"))
    assert [(e.kind, e.arbitration_id) for e in errors(events)] == [("unexpected", 0x7A8)]


def test_overflow_first_frame_is_refused():
    r = Reassembler(max_size=100)
    events = r.feed(0, "1", 0x7E8, False, bytes.fromhex("1065620101000000"))  # announces 101
    assert [e.kind for e in errors(events)] == ["overflow"]
    assert r.open_messages == 0
    # the escape form (length 0 then 32 bits) is bounded the same way
    events = r.feed(0, "1", 0x7E8, False, bytes.fromhex("1000FFFFFFFF6201"))
    assert [e.kind for e in errors(events)] == ["overflow"]


def test_escape_first_frame_length_and_can_fd_single_frame():
    payload = bytes(range(10))
    r = Reassembler()
    events = r.feed(0, "1", 0x7E8, False, bytes.fromhex("10000000000A") + payload[:2])
    events += r.feed(0.01, "1", 0x7E8, False, bytes([0x21]) + payload[2:9])
    events += r.feed(0.02, "1", 0x7E8, False, bytes([0x22]) + payload[9:] + bytes(6))
    assert [m.payload for m in messages(events)] == [payload]
    fd = bytes([0x00, 12]) + bytes(range(12)) + bytes(2)
    [msg] = r.feed(1, "1", 0x7E8, False, fd)
    assert msg.payload == bytes(range(12))


def test_flow_control_overflow_drops_the_message():
    r = Reassembler()
    events = r.feed(0, "1", 0x7EC, False, bytes.fromhex("103E620101FFF7E7"))
    events += r.feed(0.001, "1", 0x7E4, False, bytes.fromhex("3200000000000000"))
    fc = [e for e in events if isinstance(e, FlowControl)]
    assert fc[0].status == "overflow"
    [err] = errors(events)
    assert (err.kind, err.arbitration_id) == ("overflow", 0x7EC)
    assert r.open_messages == 0


def test_wait_flow_control_keeps_the_message_alive():
    r = Reassembler(n_cr=1.0)
    events = r.feed(0.0, "1", 0x7EC, False, bytes.fromhex("1010620101000000"))
    # the receiver asks to wait, twice, each within N_Cr of the last frame
    events += r.feed(0.9, "1", 0x7E4, False, bytes.fromhex("3100000000000000"))
    events += r.feed(1.8, "1", 0x7E4, False, bytes.fromhex("3100000000000000"))
    events += r.feed(2.1, "1", 0x7E4, False, bytes.fromhex("3000000000000000"))
    events += r.feed(2.2, "1", 0x7EC, False, bytes.fromhex("2101020304050607"))
    events += r.feed(2.3, "1", 0x7EC, False, bytes.fromhex("2208090A0B0C0D0E"))
    assert [fc.status for fc in events if isinstance(fc, FlowControl)] == ["wait", "wait", "continue"]
    assert errors(events) == []
    [msg] = messages(events)
    assert len(msg.payload) == 16


def test_timeout_between_consecutive_frames():
    r = Reassembler(n_cr=1.0)
    r.feed(0.0, "1", 0x7EC, False, bytes.fromhex("1014490201414243"))
    assert r.expire(0.99) == []
    [err] = r.expire(1.01)
    assert err.kind == "timeout" and err.partial == bytes.fromhex("490201414243")
    # a late consecutive frame then belongs to nothing
    assert [e.kind for e in errors(r.feed(1.02, "1", 0x7EC, False, bytes.fromhex("2144454647484950")))] \
        == ["unexpected"]


def test_timeout_noticed_on_the_next_frame_of_any_id():
    r = Reassembler(n_cr=1.0)
    r.feed(0.0, "1", 0x778, False, bytes.fromhex("1017590209960300"))  # recorded FF, no CF followed
    events = r.feed(5.0, "1", 0x7DF, False, bytes.fromhex("0201000000000000"))
    assert [e.kind for e in errors(events)] == ["timeout"]
    assert len(messages(events)) == 1


def test_flush_reports_what_the_input_left_open():
    r = Reassembler()
    r.feed(0.0, "1", 0x7CC, False, bytes.fromhex("1013590289581287"))
    [err] = r.flush()
    assert err.kind == "timeout" and "input ended after 6 of 19 bytes" in err.detail
    assert r.open_messages == 0


def test_invalid_frames():
    r = Reassembler()
    cases = {
        b"": "empty frame",
        bytes.fromhex("0901020304050607"): "single frame says 9 bytes, has 7",
        bytes.fromhex("0000"): "single frame of length 0",
        bytes.fromhex("10"): "first frame too short",
        bytes.fromhex("1005010203040506"): "a single frame would carry them",
        bytes.fromhex("30"): "flow-control frame too short",
        bytes.fromhex("4001020304050607"): "unknown frame type 0x4",
        bytes.fromhex("F0"): "unknown frame type 0xF",
    }
    for data, why in cases.items():
        [err] = r.feed(0, "1", 0x7E8, False, data)
        assert isinstance(err, IsoTpError) and err.kind == "invalid" and why in err.detail, (data, err)


def test_separate_buses_do_not_mix():
    payload = bytes(range(20))
    f = segment(payload)
    r = Reassembler()
    events = r.feed(0, "0", 0x7E8, False, f[0]) + r.feed(0, "1", 0x7E8, False, f[0])
    events += r.feed(0.1, "0", 0x7E8, False, f[1]) + r.feed(0.1, "1", 0x7E8, False, f[1])
    events += r.feed(0.2, "0", 0x7E8, False, f[2]) + r.feed(0.2, "1", 0x7E8, False, f[2])
    assert sorted(m.bus for m in messages(events)) == ["0", "1"]


def test_st_min_encoding():
    assert st_min_seconds(0x05) == 0.005
    assert st_min_seconds(0x7F) == 0.127
    assert st_min_seconds(0xF1) == 0.0001
    assert st_min_seconds(0xF9) == 0.0009
    assert st_min_seconds(0x80) == 0.127  # reserved: the longest
    assert parse_frame(bytes.fromhex("3000050000000000")).st_min == 5


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=4095), st.sampled_from([None, 0x00, 0xAA, 0x55]))
def test_any_payload_survives_segmentation(payload, pad):
    events = feed_all(Reassembler(), segment(payload, pad))
    assert [m.payload for m in messages(events)] == [payload]
    assert errors(events) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0x7E8, 0x7E0, 0x18DAF1DA]), st.binary(max_size=8)), max_size=60))
def test_hostile_frames_never_raise_and_memory_stays_bounded(frames):
    r = Reassembler(max_size=200)
    for i, (frame_id, data) in enumerate(frames):
        for event in r.feed(i * 0.01, "1", frame_id, frame_id > 0x7FF, data):
            assert isinstance(event, (DiagMessage, FlowControl, IsoTpError))
            if isinstance(event, DiagMessage):
                assert len(event.payload) <= 200
    assert r.open_messages <= 3
