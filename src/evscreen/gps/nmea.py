"""NMEA 0183 from a GNSS receiver: framing, sentence decoding and one fix per epoch (pure, no I/O).

Bytes go in, :class:`Fix` objects come out (``NmeaReader.feed``). Real receivers send garbage —
lines cut off mid-sentence, two sentences fused on one line, bad or missing checksums, a doubled
``$``, binary noise after a baud-rate glitch, proprietary sentences — so framing is done here,
byte-exact, before pynmea2 sees a sentence: everything that is not a complete sentence with a
valid checksum is skipped and counted in :class:`NmeaCounters`, and the stream resynchronises on
the next ``$``. Whitespace outside a sentence (blank lines, a space before ``$``) is tolerated, as
gpsd does: a real SiRF log has such a line and its sentence is good.

A receiver reports each epoch (usually once a second) as a burst of sentences: GGA/RMC/GNS/GLL
carry its time, GSA/GSV/VTG do not and belong to the epoch whose burst they arrive in. The
accumulator closes an epoch when a sentence with another time arrives (or, for a receiver that
sends no time before its first fix, when a timed sentence repeats), or when the caller flushes it
because the line went quiet. Fix quality decides validity: without a fix there is no position,
no altitude and no speed, and the satellites in use are 0.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pynmea2

from evscreen.gps.counters import StreamCounters, by_name

#: NMEA 0183 allows 82 characters; u-blox and SiRF exceed it with NMEA 4.10 and proprietary
#: sentences, so anything up to this many bytes between ``$`` and the line end is accepted.
MAX_SENTENCE = 200

KNOTS_TO_KMH = 1.852

#: Sentence types that feed the fix. Everything else (GST, ZDA, GBS, TXT, proprietary...) is
#: counted as ignored.
USED_TYPES = frozenset({"GGA", "RMC", "VTG", "GSA", "GSV", "GNS", "GLL"})
#: Sentence types that carry the epoch's time of day.
TIMED_TYPES = frozenset({"GGA", "RMC", "GNS", "GLL"})

#: Kinds of garbage, as counted in ``NmeaCounters.errors``.
ERROR_KINDS = (
    "truncated",    # a sentence cut off: a new '$' (or the end of the stream) before its checksum
    "no_checksum",  # a complete line without '*HH'
    "checksum",     # '*HH' does not match the sentence
    "binary",       # bytes that are not printable ASCII inside a sentence
    "too_long",     # more than MAX_SENTENCE bytes without a line end
    "malformed",    # checksum right, but fields that make no sense (bad number, latitude 95...)
    "noise",        # stray bytes between sentences, a doubled '$'
)

# GGA quality 1-5 are fixes (GPS, DGPS, PPS, RTK, float RTK) and 6 is dead reckoning, which
# receivers use through short tunnels. 7 (manual input) and 8 (simulator) are not measurements.
_GGA_FIX_QUALITIES = frozenset({1, 2, 3, 4, 5, 6})
# FAA mode indicators (NMEA 2.3+): autonomous, differential, precise, RTK, float RTK, estimated.
_FAA_FIX_MODES = frozenset("ADPRFE")

_SENTENCE_RE = re.compile(r"\$(?P<body>(?P<address>[A-Z0-9]{3,10})(?:,[^*$]*)?)\*(?P<checksum>[0-9A-Fa-f]{2})")
_WHITESPACE = frozenset(b" \t\r\n\x00")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_TOKEN_RE = re.compile(rb"([$\r\n])")


class NmeaError(ValueError):
    """A sentence that cannot be used; ``kind`` is one of :data:`ERROR_KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class NmeaCounters(StreamCounters):
    """What went through the reader: good sentences by type, ignored ones, and each kind of error."""

    error_kinds = ERROR_KINDS

    sentences: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    epochs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "sentences": self.sentences, "by_type": by_name(self.by_type),
                "ignored": by_name(self.ignored), **self.error_report(), "epochs": self.epochs, "fixes": self.fixes}


# --- framing -----------------------------------------------------------------------------------


class NmeaFramer:
    """Cuts a byte stream into checksum-verified sentences (``$...*HH``), counting the rest."""

    def __init__(self, counters: NmeaCounters) -> None:
        self.counters = counters
        self._current: bytearray | None = None  # bytes after '$' of the sentence being read
        self._overflow = False
        self._noise = False  # inside a run of stray bytes (counted once per run)

    def feed(self, data: bytes) -> list[str]:
        self.counters.bytes += len(data)
        out: list[str] = []
        for token in _TOKEN_RE.split(data):
            if not token:
                continue
            if token == b"$":
                if self._current is not None:
                    self._end(out, interrupted=True)
                self._noise = False
                self._current = bytearray()
                self._overflow = False
            elif token in (b"\r", b"\n"):
                if self._current is not None:
                    self._end(out, interrupted=False)
                self._noise = False
            elif self._current is not None:
                if not self._overflow:
                    self._current += token
                    if len(self._current) > MAX_SENTENCE:
                        self._overflow = True
                        self._current.clear()
            elif not self._noise and not all(b in _WHITESPACE for b in token):
                self._noise = True
                self.counters.errors["noise"] += 1
        return out

    def close(self) -> None:
        """End of stream: a sentence still open was cut off."""
        if self._current is not None:
            self._end([], interrupted=True)

    def _end(self, out: list[str], *, interrupted: bool) -> None:
        body = bytes(self._current or b"")
        overflow = self._overflow
        self._current = None
        self._overflow = False
        if overflow:
            self._count("too_long")
            return
        if not body:
            # "$$GPGGA...": the first '$' opened nothing; a lone "$" and a line end: cut off.
            self._count("noise" if interrupted else "truncated")
            return
        try:
            out.append(check_sentence(body, interrupted=interrupted))
        except NmeaError as exc:
            self._count(exc.kind)

    def _count(self, kind: str) -> None:
        self.counters.errors[kind] += 1


def check_sentence(body: bytes, *, interrupted: bool = False) -> str:
    """``$`` + ``body`` as text if it is one whole sentence with a valid checksum, else NmeaError.

    ``interrupted`` says the sentence ended at a new ``$`` rather than a line end: it is complete
    only if it already carries its checksum (two whole sentences fused on one line).
    """
    body = body.rstrip(b" \t\x00")
    if not body.isascii() or _CONTROL.search(body):
        raise NmeaError("binary", "non-ASCII bytes in sentence")
    text = "$" + body.decode("ascii")
    star = text.rfind("*")
    if star < 0:
        raise NmeaError("truncated" if interrupted else "no_checksum", f"no checksum: {text[:40]!r}")
    if len(text) - star < 3:
        raise NmeaError("truncated", f"cut off in its checksum: {text[:40]!r}")
    match = _SENTENCE_RE.fullmatch(text)
    if match is None:
        raise NmeaError("truncated" if interrupted else "malformed", f"not a sentence: {text[:40]!r}")
    expected = functools.reduce(operator.xor, match.group("body").encode("ascii"), 0)
    if int(match.group("checksum"), 16) != expected:
        raise NmeaError("checksum", f"checksum {match.group('checksum')} != {expected:02X}: {text[:40]!r}")
    return text


# --- decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """What one used sentence says, in our own types (pynmea2's stay at this boundary)."""

    kind: str
    talker: str
    time: dt.time | None = None
    date: dt.date | None = None
    fix: bool | None = None  # None: the sentence says nothing about the fix (VTG, GSV)
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    satellites: int | None = None
    speed_kmh: float | None = None
    course: float | None = None
    gsa_mode: int | None = None
    used: frozenset[tuple[str, int]] = frozenset()
    in_view: int | None = None
    hdop: float | None = None


def address_of(text: str) -> str:
    end = len(text)
    for sep in (",", "*"):
        pos = text.find(sep)
        if 0 <= pos < end:
            end = pos
    return text[1:end]


def decode(text: str) -> Sentence | None:
    """Decode one checksum-verified sentence; None for a type we do not use, NmeaError if malformed."""
    address = address_of(text)
    if address.startswith("P") or len(address) != 5 or address[2:] not in USED_TYPES:
        return None
    try:
        # The checksum was verified while framing; pynmea2 gets the sentence without it.
        msg = pynmea2.parse(text.partition("*")[0])
    except pynmea2.ParseError as exc:
        raise NmeaError("malformed", f"{address}: {exc.args[0][0] if exc.args else exc}") from None
    kind = address[2:]
    talker = address[:2]
    try:
        return _DECODERS[kind](msg, talker)
    except (ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        raise NmeaError("malformed", f"{address}: {exc}") from None


def _raw(msg: Any, name: str) -> str:
    idx = type(msg).name_to_idx[name]
    return msg.data[idx].strip() if idx < len(msg.data) else ""


def _float(msg: Any, name: str) -> float | None:
    text = _raw(msg, name)
    if not text:
        return None
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} is not a number: {text!r}")
    return value


def _int(msg: Any, name: str) -> int | None:
    text = _raw(msg, name)
    return int(text) if text else None


def _time(msg: Any) -> dt.time | None:
    text = _raw(msg, "timestamp")
    if not text:
        return None
    if not re.fullmatch(r"\d{6}(\.\d+)?", text):
        raise ValueError(f"bad time {text!r}")
    seconds = float(text[4:])
    if seconds >= 61:  # 60 is a leap second
        raise ValueError(f"bad time {text!r}")
    whole = min(int(seconds), 59)
    return dt.time(int(text[0:2]), int(text[2:4]), whole, int(round((seconds - int(seconds)) * 1e6)) % 1_000_000)


def _coord(msg: Any, value_name: str, dir_name: str, limit: int, positive: str, negative: str) -> float | None:
    text = _raw(msg, value_name)
    hemisphere = _raw(msg, dir_name)
    if not text and not hemisphere:
        return None
    match = re.fullmatch(r"(\d{1,3})(\d\d(?:\.\d+)?)", text)
    if match is None or hemisphere not in (positive, negative):
        raise ValueError(f"bad coordinate {text!r} {hemisphere!r}")
    degrees, minutes = int(match.group(1)), float(match.group(2))
    if minutes >= 60:
        raise ValueError(f"bad coordinate {text!r}")
    value = degrees + minutes / 60
    if value > limit:
        raise ValueError(f"coordinate out of range: {text!r}")
    return -value if hemisphere == negative else value


def _position(msg: Any) -> tuple[float | None, float | None]:
    lat = _coord(msg, "lat", "lat_dir", 90, "N", "S")
    lon = _coord(msg, "lon", "lon_dir", 180, "E", "W")
    if (lat is None) != (lon is None):
        raise ValueError("latitude without longitude")
    return lat, lon


def _faa_fix(mode: str) -> bool | None:
    """The fix an FAA mode indicator states (NMEA 2.3+), None when the field is absent."""
    return None if not mode else mode[0] in _FAA_FIX_MODES


def _require_position(fix: bool, lat: float | None) -> None:
    if fix and lat is None:
        raise ValueError("a fix without a position")


def _gga(msg: Any, talker: str) -> Sentence:
    quality = _int(msg, "gps_qual")
    fix = quality in _GGA_FIX_QUALITIES
    lat, lon = _position(msg)
    _require_position(fix, lat)
    units = _raw(msg, "altitude_units")
    altitude = _float(msg, "altitude")
    if altitude is not None and units not in ("M", ""):
        raise ValueError(f"altitude in {units!r}, not metres")
    sats = _int(msg, "num_sats")
    if sats is not None and not 0 <= sats <= 99:
        raise ValueError(f"satellites {sats}")
    return Sentence("GGA", talker, time=_time(msg), fix=fix, latitude=lat, longitude=lon, altitude=altitude,
                    satellites=sats, hdop=_float(msg, "horizontal_dil"))


def _gns(msg: Any, talker: str) -> Sentence:
    modes = _raw(msg, "mode_indicator")
    if not re.fullmatch(r"[A-Z]*", modes):
        raise ValueError(f"bad mode indicator {modes!r}")
    fix = any(m in _FAA_FIX_MODES for m in modes)
    lat, lon = _position(msg)
    _require_position(fix, lat)
    sats = _int(msg, "num_sats")
    if sats is not None and not 0 <= sats <= 99:
        raise ValueError(f"satellites {sats}")
    return Sentence("GNS", talker, time=_time(msg), fix=fix, latitude=lat, longitude=lon,
                    altitude=_float(msg, "altitude"), satellites=sats, hdop=_float(msg, "hdop"))


def _rmc(msg: Any, talker: str) -> Sentence:
    status = _raw(msg, "status")
    if status not in ("A", "V"):
        raise ValueError(f"bad status {status!r}")
    faa = _faa_fix(_raw(msg, "mode_indicator"))
    fix = status == "A" and faa is not False
    lat, lon = _position(msg)
    _require_position(fix, lat)
    date_text = _raw(msg, "datestamp")
    date = dt.datetime.strptime(date_text, "%d%m%y").date() if date_text else None
    knots = _float(msg, "spd_over_grnd")
    if knots is not None and not 0 <= knots < 10000:
        raise ValueError(f"speed {knots}")
    return Sentence("RMC", talker, time=_time(msg), date=date, fix=fix, latitude=lat, longitude=lon,
                    speed_kmh=None if knots is None else knots * KNOTS_TO_KMH, course=_course(msg, "true_course"))


def _gll(msg: Any, talker: str) -> Sentence:
    status = _raw(msg, "status")
    if status not in ("A", "V"):
        raise ValueError(f"bad status {status!r}")
    fix = status == "A" and _faa_fix(_raw(msg, "faa_mode")) is not False
    lat, lon = _position(msg)
    _require_position(fix, lat)
    return Sentence("GLL", talker, time=_time(msg), fix=fix, latitude=lat, longitude=lon)


def _vtg(msg: Any, talker: str) -> Sentence:
    if _faa_fix(_raw(msg, "faa_mode")) is False:
        return Sentence("VTG", talker)
    kmh = _float(msg, "spd_over_grnd_kmph")
    if kmh is None:
        knots = _float(msg, "spd_over_grnd_kts")
        kmh = None if knots is None else knots * KNOTS_TO_KMH
    if kmh is not None and not 0 <= kmh < 20000:
        raise ValueError(f"speed {kmh}")
    return Sentence("VTG", talker, speed_kmh=kmh, course=_course(msg, "true_track"))


def _course(msg: Any, name: str) -> float | None:
    course = _float(msg, name)
    if course is not None and not 0 <= course <= 360:
        raise ValueError(f"course {course}")
    return None if course is None else course % 360


def _gsa(msg: Any, talker: str) -> Sentence:
    mode = _int(msg, "mode_fix_type")
    if mode not in (1, 2, 3):
        raise ValueError(f"bad fix type {mode}")
    # NMEA 4.10 adds a system ID after VDOP, so GN-talker GSAs of different constellations can
    # share satellite numbers; older GN GSAs number constellations apart. A non-GN talker already
    # names its constellation (a SiRF BDGSA puts a non-standard float in that field).
    system = talker
    if talker == "GN" and len(msg.data) > 17 and msg.data[17].strip().isdigit():
        system = "GN" + msg.data[17].strip()
    used = set()
    for i in range(1, 13):
        prn = _int(msg, f"sv_id{i:02d}")
        if prn is not None:
            if not 0 < prn < 1000:
                raise ValueError(f"satellite id {prn}")
            used.add((system, prn))
    return Sentence("GSA", talker, gsa_mode=mode, used=frozenset(used), hdop=_float(msg, "hdop"))


def _gsv(msg: Any, talker: str) -> Sentence:
    total, number, in_view = _int(msg, "num_messages"), _int(msg, "msg_num"), _int(msg, "num_sv_in_view")
    if total is None or number is None or not 1 <= number <= total <= 99:
        raise ValueError(f"bad GSV numbering {number}/{total}")
    if in_view is not None and not 0 <= in_view <= 255:
        raise ValueError(f"satellites in view {in_view}")
    return Sentence("GSV", talker, in_view=in_view if number == 1 else None)


_DECODERS = {"GGA": _gga, "GNS": _gns, "RMC": _rmc, "GLL": _gll, "VTG": _vtg, "GSA": _gsa, "GSV": _gsv}


# --- epochs and fixes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """The receiver's answer for one epoch. Without a valid fix, position and speed are None."""

    valid: bool
    mode: int  # 1 no fix, 2 two-dimensional, 3 three-dimensional
    time: dt.time | None = None
    date: dt.date | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None  # metres above mean sea level
    satellites: int | None = 0  # in use; None only when the receiver never says
    satellites_in_view: int | None = None
    speed_kmh: float | None = None
    heading: float | None = None
    hdop: float | None = None

    @property
    def timestamp(self) -> dt.datetime | None:
        if self.time is None or self.date is None:
            return None
        return dt.datetime.combine(self.date, self.time, tzinfo=dt.timezone.utc)

    def telemetry(self) -> dict[str, Any]:
        """The ``gps.*`` telemetry paths for this fix."""
        return {
            "gps.latitude": self.latitude,
            "gps.longitude": self.longitude,
            "gps.altitude": self.altitude,
            "gps.satellites": self.satellites,
            "gps.speed_gps": None if self.speed_kmh is None else round(self.speed_kmh, 3),
            "gps.heading": self.heading,
        }

    def as_dict(self) -> dict[str, Any]:
        stamp = self.timestamp
        if stamp is not None:
            when: str | None = stamp.isoformat().replace("+00:00", "Z")
        else:
            when = self.time.isoformat() if self.time else None
        return {
            "valid": self.valid, "mode": self.mode, "time": when,
            "latitude": self.latitude, "longitude": self.longitude, "altitude": self.altitude,
            "satellites": self.satellites, "satellites_in_view": self.satellites_in_view,
            "speed_kmh": None if self.speed_kmh is None else round(self.speed_kmh, 3),
            "heading": self.heading, "hdop": self.hdop,
        }


#: Telemetry for "no receiver": nothing is known.
UNKNOWN_TELEMETRY: dict[str, Any] = {
    "gps.latitude": None, "gps.longitude": None, "gps.altitude": None, "gps.satellites": None,
    "gps.speed_gps": None, "gps.heading": None,
}


class _Epoch:
    def __init__(self) -> None:
        self.time: dt.time | None = None
        self.timed: set[tuple[str, str]] = set()
        self.sentences: dict[str, list[Sentence]] = {}
        self.used: set[tuple[str, int]] = set()
        self.gsa_modes: list[int] = []
        self.in_view: dict[str, int] = {}

    def add(self, s: Sentence) -> None:
        self.sentences.setdefault(s.kind, []).append(s)
        if s.kind in TIMED_TYPES:
            self.timed.add((s.kind, s.talker))
            if self.time is None:
                self.time = s.time
        if s.kind == "GSA":
            self.used |= s.used
            self.gsa_modes.append(s.gsa_mode or 1)
        if s.in_view is not None:
            self.in_view[s.talker] = max(s.in_view, self.in_view.get(s.talker, 0))

    def first(self, *kinds: str, having: str | None = None) -> Sentence | None:
        for kind in kinds:
            for s in self.sentences.get(kind, ()):
                if having is None or getattr(s, having) is not None:
                    return s
        return None

    def to_fix(self) -> Fix:
        primary = [s.fix for s in self.sentences.get("GGA", []) + self.sentences.get("GNS", [])]
        secondary = [s.fix for s in self.sentences.get("RMC", []) + self.sentences.get("GLL", [])]
        flags = primary or secondary
        valid = bool(flags) and all(flags)
        rmc = self.first("RMC", having="date")
        date = rmc.date if rmc else None
        in_view = sum(self.in_view.values()) if self.in_view else None
        if not valid:
            return Fix(False, 1, time=self.time, date=date, satellites=0, satellites_in_view=in_view)
        where = self.first("GGA", "GNS", "RMC", "GLL", having="latitude")
        assert where is not None  # a sentence stating a fix carries a position (decode checks)
        gsa_mode = max(self.gsa_modes) if self.gsa_modes else None
        alt_from = self.first("GGA", "GNS", having="altitude")
        altitude = alt_from.altitude if alt_from else None
        if gsa_mode in (2, 3):
            mode = gsa_mode
        else:
            mode = 3 if altitude is not None and gsa_mode is None else 2
        if mode != 3:
            altitude = None
        if self.used:
            satellites: int | None = len(self.used)
        else:
            counted = self.first("GGA", "GNS", having="satellites")
            satellites = counted.satellites if counted else None
        speed = self.first("VTG", "RMC", having="speed_kmh")
        course = self.first("VTG", "RMC", having="course")
        hdop = self.first("GGA", "GNS", "GSA", having="hdop")
        return Fix(
            True, mode, time=self.time, date=date, latitude=where.latitude, longitude=where.longitude,
            altitude=altitude, satellites=satellites, satellites_in_view=in_view,
            speed_kmh=speed.speed_kmh if speed else None, heading=course.course if course else None,
            hdop=hdop.hdop if hdop else None,
        )


class FixAccumulator:
    """Groups decoded sentences into epochs and turns each finished epoch into a :class:`Fix`."""

    def __init__(self) -> None:
        self._epoch = _Epoch()
        self._empty = True

    def feed(self, s: Sentence) -> Fix | None:
        """Add one sentence; returns the previous epoch's fix when this sentence starts a new one."""
        done = None
        if s.kind in TIMED_TYPES and not self._empty:
            current = self._epoch.time
            if (s.time is not None and current is not None and s.time != current) or (
                s.time is None and (s.kind, s.talker) in self._epoch.timed
            ):
                done = self.flush()
        self._epoch.add(s)
        self._empty = False
        return done

    def flush(self) -> Fix | None:
        """Finish the current epoch (the line went quiet, or the stream ended)."""
        if self._empty:
            return None
        fix = self._epoch.to_fix() if self._epoch.timed else None
        self._epoch = _Epoch()
        self._empty = True
        return fix


class NmeaReader:
    """Bytes from a receiver in, fixes out; ``counters`` says what came through and what did not."""

    def __init__(self) -> None:
        self.counters = NmeaCounters()
        self._framer = NmeaFramer(self.counters)
        self._accumulator = FixAccumulator()
        self.last_error: str | None = None

    def feed(self, data: bytes) -> list[Fix]:
        fixes: list[Fix] = []
        for text in self._framer.feed(data):
            try:
                sentence = decode(text)
            except NmeaError as exc:
                self.counters.errors[exc.kind] += 1
                self.last_error = str(exc)
                continue
            if sentence is None:
                address = address_of(text)
                self.counters.ignored[address if address.startswith("P") else address[2:]] += 1
                continue
            self.counters.sentences += 1
            self.counters.by_type[sentence.kind] += 1
            fix = self._accumulator.feed(sentence)
            if fix is not None:
                fixes.append(self._count(fix))
        return fixes

    def flush(self) -> Fix | None:
        """Finish the epoch in progress; call when the line has been quiet for a moment."""
        fix = self._accumulator.flush()
        return None if fix is None else self._count(fix)

    def close(self) -> Fix | None:
        """End of stream: a sentence still open was cut off; the epoch in progress is finished."""
        self._framer.close()
        return self.flush()

    def reset(self) -> None:
        """The stream broke (device lost): drop the half-read sentence and epoch, keep the counts."""
        self._framer.close()
        self._framer = NmeaFramer(self.counters)
        self._accumulator = FixAccumulator()

    def _count(self, fix: Fix) -> Fix:
        self.counters.epochs += 1
        if fix.valid:
            self.counters.fixes += 1
        return fix
