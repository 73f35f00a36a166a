"""NMEA framing, decoding and fixes (pure), against gpsd's own decoding of real receiver logs."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REALDATA
from evscreen.gps.nmea import ERROR_KINDS, Fix, NmeaReader, check_sentence, decode
from gpsd_check import assert_matches_gpsd, expected_epochs, log_lines, time_key

NMEA = REALDATA / "nmea"
CHECKED_LOGS = ["neo-m8n.log", "beidou-bd.log"]


def read_all(data: bytes, chunk: int | None = None) -> tuple[list[Fix], NmeaReader]:
    reader = NmeaReader()
    fixes: list[Fix] = []
    if chunk is None:
        fixes += reader.feed(data)
    else:
        for start in range(0, len(data), chunk):
            fixes += reader.feed(data[start:start + chunk])
    last = reader.close()
    return fixes + ([last] if last else []), reader


@functools.cache
def log_bytes(name: str) -> bytes:
    return b"".join(line + b"\r\n" for line in log_lines(NMEA / name))


def with_checksum(body: str) -> bytes:
    cs = 0
    for ch in body.encode():
        cs ^= ch
    return f"${body}*{cs:02X}".encode()


# --- real logs against gpsd --------------------------------------------------------------------


@pytest.mark.parametrize("name", CHECKED_LOGS)
def test_real_log_fixes_match_gpsd(name: str) -> None:
    fixes, reader = read_all(log_bytes(name))
    expected = expected_epochs(NMEA / f"{name}.chk")
    compared = 0
    for fix in fixes:
        epoch = expected.get(time_key(fix.time))
        if epoch is not None and epoch.tpv is not None:
            assert_matches_gpsd(fix, epoch)
            compared += 1
    # gpsd reported (nearly) every epoch; the log's last one ends before gpsd printed its report.
    assert compared >= len(fixes) - 1 and compared >= 9
    assert reader.counters.error_total == 0


def test_neo_m8n_final_fix_is_the_documented_one() -> None:
    fixes, reader = read_all(log_bytes("neo-m8n.log"))
    first_3d = next(f for f in fixes if f.mode == 3)
    assert (round(first_3d.latitude, 9), round(first_3d.longitude, 9)) == (44.0690105, -121.314246333)
    assert first_3d.altitude == 1147.2
    assert first_3d.satellites_in_view == 23
    assert first_3d.timestamp.isoformat() == "2015-03-18T17:19:26+00:00"  # the date from RMC, not gpsd's
    assert first_3d.speed_kmh == pytest.approx(0.216)
    counted = reader.counters.as_dict()
    assert counted["by_type"] == {"GGA": 23, "GLL": 23, "GSA": 44, "GSV": 157, "RMC": 23, "VTG": 23}
    assert counted["epochs"] == len(fixes)


def test_no_fix_means_no_position_and_zero_satellites() -> None:
    fixes, _ = read_all(log_bytes("beidou-bd.log"))
    no_fix = [f for f in fixes if not f.valid]
    assert len(no_fix) == 5
    for fix in no_fix:
        assert fix.telemetry() == {"gps.latitude": None, "gps.longitude": None, "gps.altitude": None,
                                   "gps.satellites": 0, "gps.speed_gps": None, "gps.heading": None}
    assert fixes[5].valid and fixes[5].satellites == 5  # 2 GPS + 3 BeiDou in the GSAs


def test_beidou_log_oddities_are_read() -> None:
    fixes, reader = read_all(log_bytes("beidou-bd.log"))
    # A line with a leading space, an extra GGA field, a float in BDGSA's system field: all read.
    assert reader.counters.by_type["RMC"] == 10 and reader.counters.error_total == 0
    assert reader.counters.ignored == {"PSRFEPE": 10, "PSRF151": 2}
    assert fixes[-1].heading == pytest.approx(4.94)


def test_nmea_410_constellations_sharing_satellite_numbers_are_counted_apart() -> None:
    fixes, reader = read_all(log_bytes("ublox-neo-m9n-nmea.log"))
    assert len(fixes) == 61 and all(f.valid and f.mode == 3 for f in fixes)
    # GPS, GLONASS, Galileo and BeiDou each number from 1: PRN 30 and 27 are used in three of them.
    assert fixes[0].satellites == 8 + 7 + 5 + 5
    assert fixes[0].satellites_in_view == 16 + 10 + 10 + 7
    assert fixes[0].altitude == 83.1 and fixes[0].latitude == pytest.approx(38 + 6.62964 / 60, abs=1e-9)
    assert reader.counters.ignored == {"GBS": 61, "GST": 61, "ZDA": 61}


def test_reading_does_not_depend_on_how_bytes_are_chunked() -> None:
    whole, _ = read_all(log_bytes("neo-m8n.log"))
    for chunk in (1, 7, 64, 1000):
        assert read_all(log_bytes("neo-m8n.log"), chunk)[0] == whole


# --- garbage -----------------------------------------------------------------------------------


def nasty_corpus() -> tuple[bytes, dict[str, int]]:
    """The neo-m8n log with every kind of damage a real serial line produces, and the counts due."""
    lines = log_lines(NMEA / "neo-m8n.log")
    gga = next(line for line in lines if line.startswith(b"$GNGGA")).decode()
    body = gga[1:gga.index("*")]
    garbage: list[tuple[bytes, str | None]] = [
        (gga[:30].encode(), "no_checksum"),                        # cut off, then a line end
        (gga[:-3].encode(), "no_checksum"),                        # checksum missing
        (gga[:-1].encode(), "truncated"),                          # cut inside its checksum
        (gga[:-2].encode() + b"00", "checksum"),                   # bad checksum
        (gga.replace("4404.", "4405.").encode(), "checksum"),      # one damaged byte
        (b"\xb5\x62\x01\x07\x5c\x00\x1f\xff\xfe", "noise"),        # binary noise (UBX) between lines
        (gga[:20].encode() + b"\x00\xff\x13" + gga[20:].encode(), "binary"),
        (b"$GPGSV," + b"1," * 150 + b"*00", "too_long"),
        (with_checksum(body.replace("4404.14063", "44x4.14063")), "malformed"),
        (with_checksum(body.replace(",1,12,", ",Q,12,")), "malformed"),
        (with_checksum(body.replace("4404.14063,N", "9404.14063,N")), "malformed"),  # latitude 94
        (with_checksum("GPGSV,0,1,13"), "malformed"),
        (with_checksum("PUBX,00,171926.00,4404.14063,N"), None),   # proprietary: ignored
        (with_checksum("GPXYZ,1,2,3"), None),                      # unknown type: ignored
        (b"$" + gga[1:25].encode() + with_checksum("PUBX,04,171926.00"), "truncated"),  # cut, fused with a whole one
        (b"garbage without a dollar", "noise"),
        (b"$", "truncated"),
    ]
    out: list[bytes] = []
    expected = dict.fromkeys(ERROR_KINDS, 0)
    fused_whole = 0
    for i, line in enumerate(lines):
        if i % 9 == 4 and garbage:
            junk, kind = garbage.pop(0)
            out.append(junk + b"\r\n")
            if kind:
                expected[kind] += 1
        if i == 5:
            line = b"   " + line               # leading spaces: tolerated
        elif i == 9:
            line = b"$" + line                 # doubled '$': the empty one is noise, the sentence is read
            expected["noise"] += 1
        elif i in (20, 40) and not line.startswith(b"$GPGSV"):
            out.append(line)                   # two whole sentences fused on one line: both read
            fused_whole += 1
            continue
        out.append(line + b"\r\n")
    assert not garbage and fused_whole == 2
    return b"".join(out), expected


def test_nasty_corpus_is_skipped_counted_and_resynchronised() -> None:
    clean, clean_reader = read_all(log_bytes("neo-m8n.log"))
    data, expected = nasty_corpus()
    fixes, reader = read_all(data)
    assert fixes == clean
    assert reader.counters.as_dict()["errors"] == expected
    assert reader.counters.by_type == clean_reader.counters.by_type
    assert reader.counters.ignored == {"PUBX": 2, "XYZ": 1}


@pytest.mark.parametrize(("raw", "kind"), [
    (b"GPGGA,123519", "no_checksum"),
    (b"GPGGA,123519*4", "truncated"),
    (b"GPGGA,123519*ZZ", "malformed"),
    (b"GPGGA,123519*47 trailing", "malformed"),
    (b"gpgga,1*5B", "malformed"),
    (b"GPGGA,\xe2\x82\xac*00", "binary"),
])
def test_sentence_check_kinds(raw: bytes, kind: str) -> None:
    from evscreen.gps.nmea import NmeaError

    with pytest.raises(NmeaError) as info:
        check_sentence(raw)
    assert info.value.kind == kind


def test_lowercase_checksum_and_trailing_space_are_fine() -> None:
    text = with_checksum("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K").decode()
    assert check_sentence((text[1:-2] + text[-2:].lower() + "  ").encode()) == text[:-2] + text[-2:].lower()


@pytest.mark.parametrize("body", [
    "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,F,46.9,M,,",   # altitude in feet
    "GPGGA,123519,,,,,1,08,0.9,545.4,M,46.9,M,,",                       # a fix without a position
    "GPGGA,256199,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",    # hour 25
    "GPRMC,123519,X,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",  # status X
    "GPRMC,123519,A,4807.038,N,01131.000,E,nan,084.4,230394,003.1,W",   # speed nan
    "GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,003.1,W",  # 32nd of March
    "GPGLL,4807.038,Q,01131.000,E,123519,A,A",                           # hemisphere Q
    "GPGSA,A,4,01,02,,,,,,,,,,,1.0,1.0,1.0",                             # fix type 4
    "GPGSV,2,3,08,01,40,083,46",                                         # message 3 of 2
    "GPVTG,054.7,T,034.4,M,005.5,N,-10.2,K,A",                           # negative speed
])
def test_malformed_fields_are_rejected(body: str) -> None:
    from evscreen.gps.nmea import NmeaError

    with pytest.raises(NmeaError) as info:
        decode(with_checksum(body).decode())
    assert info.value.kind == "malformed"


def test_fix_quality_decides_validity() -> None:
    reader = NmeaReader()
    for quality, valid in ((0, False), (1, True), (2, True), (6, True), (7, False), (8, False)):
        data = with_checksum(f"GPGGA,1235{10 + quality},4807.038,N,01131.000,E,{quality},08,0.9,545.4,M,46.9,M,,")
        reader.feed(data + b"\r\n")
        fix = reader.flush()
        assert fix is not None and fix.valid is valid
        assert (fix.latitude is not None) is valid
        assert fix.satellites == (8 if valid else 0)


def test_rmc_void_or_mode_n_is_no_fix_and_gll_alone_is_2d() -> None:
    reader = NmeaReader()
    reader.feed(with_checksum("GPRMC,123519,V,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W") + b"\r\n")
    assert reader.flush().valid is False
    reader.feed(with_checksum("GPRMC,123520,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,N") + b"\r\n")
    assert reader.flush().valid is False
    reader.feed(with_checksum("GPGLL,4807.038,N,01131.000,E,123521,A,A") + b"\r\n")
    fix = reader.flush()
    assert fix.valid and fix.mode == 2 and fix.altitude is None and fix.satellites is None


def test_receiver_without_time_before_its_first_fix_still_splits_epochs() -> None:
    reader = NmeaReader()
    gga = with_checksum("GPGGA,,,,,,0,00,,,M,,M,,") + b"\r\n"
    fixes = reader.feed(gga * 3)
    assert len(fixes) == 2 and not any(f.valid for f in fixes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=400))
def test_random_garbage_never_crashes_and_the_stream_resynchronises(junk: bytes, cut: int) -> None:
    clean = log_bytes("beidou-bd.log")
    expected, _ = read_all(clean)
    fixes, reader = read_all(clean[:cut] + junk + b"\r\n" + clean)
    assert fixes[-len(expected) + 1:] == expected[1:]  # everything after the damaged first epoch
    assert reader.counters.sentences >= 67


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_any_printable_sentence_with_a_valid_checksum_never_crashes(body: str) -> None:
    body = body.replace("$", "").replace("*", "")
    for prefix in ("GPGGA,", "GNRMC,", "GLGSV,", "GAGSA,", "BDGNS,", "GPVTG,", "GPGLL,"):
        reader = NmeaReader()
        reader.feed(with_checksum(prefix + body) + b"\r\n")
        reader.close()
        assert reader.counters.sentences + reader.counters.error_total + sum(reader.counters.ignored.values()) == 1
