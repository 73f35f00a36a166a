"""OBD-II, UDS and KWP2000 payloads decoded; DTCs as codes; Kona BMS fields from the byte layout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evscreen.can.diag.decode import decode_payload
from evscreen.can.diag.dtc import dtc_code, failure_type_name, status_names
from evscreen.can.diag.fields import FieldError, extract
from evscreen.can.diag.obd import supported_pids
from evscreen.can.diag.services import is_response, nrc_name
from obdhelpers import kona_2101


def d(hex_text: str) -> tuple[str, dict]:
    return tuple(decode_payload(bytes.fromhex(hex_text.replace(" ", ""))))  # type: ignore[return-value]


# --- OBD-II, with payloads recorded from the Kona's D-CAN ----------------------------------------

def test_mode01_supported_pid_bitmaps():
    service, content = d("41 00 80 00 00 01")
    assert service == "OBD current data" and content["type"] == "response"
    assert content["pids"] == [{"pid": "00", "name": "supported PIDs 01-20", "supported": ["01", "20"]}]
    assert d("41 20 80 01 80 01")[1]["pids"][0]["supported"] == ["21", "30", "31", "40"]
    assert d("41 40 00 00 00 20")[1]["pids"][0]["supported"] == ["5B"]  # the battery's remaining life
    assert supported_pids(0xA0, bytes.fromhex("00000000")) == []
    assert supported_pids(0xA0, bytes.fromhex("04000000")) == [0xA6]


@pytest.mark.parametrize("hex_text, pid, value, unit", [
    ("41 0D 3C", "0D", 60, "km/h"),
    ("41 46 3C", "46", 20, "°C"),
    ("41 46 00", "46", -40, "°C"),
    ("41 42 31 2A", "42", 12.586, "V"),
    ("41 A6 00 01 E2 40", "A6", 12345.6, "km"),
    ("41 5B CC", "5B", 80.0, "%"),
    ("41 0C 1A F8", "0C", 1726.0, "rpm"),
    ("41 31 01 2C", "31", 300, "km"),
])
def test_mode01_values(hex_text, pid, value, unit):
    [entry] = d(hex_text)[1]["pids"]
    assert (entry["pid"], entry["value"], entry["unit"]) == (pid, value, unit)


def test_mode01_several_pids_in_one_answer_and_an_unknown_one():
    pids = d("41 0D 3C 46 3C 42 31 2A")[1]["pids"]
    assert [(p["pid"], p["value"]) for p in pids] == [("0D", 60), ("46", 20), ("42", 12.586)]
    pids = d("41 0D 3C FE 01 02")[1]["pids"]
    assert pids[1] == {"pid": "FE", "name": None, "raw": "0102"}
    short = d("41 42 31")[1]["pids"][0]
    assert short["error"] == "1 of 2 bytes"


def test_mode01_request():
    service, content = d("01 0D 46")
    assert service == "OBD current data" and content["type"] == "request"
    assert [p["name"] for p in content["pids"]] == ["vehicle speed", "ambient air temperature"]


def test_mode09_vin_calibration_and_ecu_names():
    vin = d("49 02 01 4F 53 45 56 5F 5F 20 42 4D 53 20 00 00 00 00 00 00")[1]
    assert (vin["name"], vin["value"]) == ("VIN", "OSEV__ BMS")
    cal = d("49 04 01 4F 53 45 56 42 36 38 32 32 52 00 00 00 00 00 00")[1]
    assert cal["value"] == ["OSEVB6822R"]
    name = d("49 0A 01" + b"BECM-B+EnergyCtrl\0\0\0".hex())[1]
    assert (name["name"], name["value"]) == ("ECU name", "BECM-B+EnergyCtrl")
    assert d("09 0A")[1] == {"type": "request", "info_type": "0A", "name": "ECU name"}
    assert d("49 04 01 00 00 00 00")[1]["value"] == []  # an ECU without calibration IDs answers zeros


def test_mode03_and_07_dtcs():
    assert d("43 00")[1] == {"type": "response", "count": 0, "dtcs": []}
    assert d("47 00")[0] == "OBD pending DTCs"
    service, content = d("43 02 0A 80 C1 01")
    assert service == "OBD stored DTCs"
    assert content["dtcs"] == [{"code": "P0A80", "meaning": "replace hybrid/EV battery pack"},
                               {"code": "U0101", "meaning": "lost communication with TCM"}]


# --- UDS and KWP2000 ---------------------------------------------------------------------------

def test_uds_dtc_report_from_the_log():
    service, content = d("59 02 FF 58 12 87 28")
    assert service == "ReadDTCInformation" and content["report"] == "reportDTCByStatusMask"
    [dtc] = content["dtcs"]
    assert dtc["code"] == "C1812"
    assert dtc["failure"] == "missing message"
    assert dtc["status_bits"] == ["confirmedDTC", "testFailedSinceLastClear"]
    # the BCM's multi-frame answer (0x778): five DTCs
    content = d("59 02 09 96 03 00 08 A8 01 00 08 56 7C 00 08 A2 11 00 08 58 29 00 08")[1]
    assert [x["code"] for x in content["dtcs"]] == ["B1603", "B2801", "C167C", "B2211", "C1829"]
    assert all(x["status_bits"] == ["confirmedDTC"] for x in content["dtcs"])
    assert d("59 02 FF")[1]["dtcs"] == []
    assert d("59 02 09 96 03")[1]["trailing"] == "9603"


def test_uds_requests():
    assert d("19 02 08")[1] == {"type": "request", "report": "reportDTCByStatusMask", "status_mask": "08"}
    assert d("22 01 01")[1]["dids"] == ["0101"]
    assert d("22 01 01 01 05")[1]["dids"] == ["0101", "0105"]
    assert d("10 03") == ("DiagnosticSessionControl", {"type": "request", "session": "extendedDiagnosticSession"})
    assert d("14 FF FF FF")[1]["group"] == "all"
    assert d("3E 80")[1]["suppress_response"] is True


@pytest.mark.parametrize("code, name", [
    (0x78, "requestCorrectlyReceivedResponsePending"), (0x21, "busyRepeatRequest"),
    (0x11, "serviceNotSupported"), (0x12, "subFunctionNotSupported"), (0x31, "requestOutOfRange"),
    (0x22, "conditionsNotCorrect"), (0x7F, "serviceNotSupportedInActiveSession"),
    (0x13, "incorrectMessageLengthOrInvalidFormat"),
])
def test_negative_responses_are_named(code, name):
    service, content = d(f"7F 19 {code:02X}")
    assert service == "ReadDTCInformation"
    assert content == {"type": "negative_response", "request_sid": "19", "nrc": f"{code:02X}", "nrc_name": name}


def test_unlisted_nrcs_fall_in_their_ranges():
    assert nrc_name(0x00) == "ISOSAEReserved"
    assert nrc_name(0xA0) == "vehicleManufacturerSpecificConditionsNotCorrect"
    assert d("7F 20 00")[1]["nrc_name"] == "ISOSAEReserved"  # recorded from a Hyundai ECU
    assert d("7F 19")[1]["error"] == "too short"


def test_session_and_kwp_answers():
    service, content = d("50 03 00 32 01 F4")
    assert service == "DiagnosticSessionControl"
    assert content == {"type": "response", "session": "extendedDiagnosticSession", "p2_ms": 50, "p2_star_ms": 5000}
    assert d("58 00") == ("ReadDiagnosticTroubleCodesByStatus", {"type": "response", "count": 0, "dtcs": []})
    assert d("58 01 C1 01 48")[1]["dtcs"][0]["code"] == "U0101"
    assert d("60")[0] == "StopDiagnosticSession"
    assert d("62 01 01 AB")[1] == {"type": "response", "did": "0101", "data": "AB"}


def test_direction_by_service_id():
    assert not is_response(0x22) and not is_response(0x3E) and not is_response(0x85)
    assert is_response(0x62) and is_response(0x7F) and is_response(0x7E) and is_response(0xC5)


def test_dtc_code_letters_and_bits():
    assert dtc_code(0x00, 0x00) == "P0000"
    assert dtc_code(0x58, 0x12) == "C1812"
    assert dtc_code(0x96, 0x03) == "B1603"
    assert dtc_code(0xC1, 0x01) == "U0101"
    assert dtc_code(0xFF, 0xFF) == "U3FFF"
    assert status_names(0xFF)[0] == "testFailed" and status_names(0xFF)[-1] == "warningIndicatorRequested"
    assert status_names(0) == []
    assert failure_type_name(0xF5) == "manufacturer specific"
    assert failure_type_name(0x0C) == "reserved"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_any_payload_decodes_without_raising(payload):
    service, content = decode_payload(payload)
    assert isinstance(service, str) and content["type"] in ("request", "response", "negative_response", "invalid")


# --- the Kona / Niro BMS, vectors built from the byte layout in issue 16 ------------------------

@pytest.mark.parametrize("byte, length, signed, scale, expected", [
    (7, 1, False, 0.5, 77.5),
    (8, 2, False, 0.01, 75.0),
    (10, 2, False, 0.01, 98.45),
    (13, 2, True, 0.1, -123.4),
    (15, 2, False, 0.1, 380.5),
    (17, 1, True, 1, 25),
    (18, 1, True, 1, -3),
    (26, 1, False, 0.02, 4.0),
    (27, 1, False, 1, 37),
    (28, 1, False, 0.02, 3.9),
    (29, 1, False, 1, 81),
    (32, 1, False, 0.1, 12.4),
    (41, 4, False, 0.1, 12345.6),
    (45, 4, False, 0.1, 11876.5),
])
def test_kona_2101_fields(byte, length, signed, scale, expected):
    value = extract(kona_2101(), byte, length, signed, scale)
    assert value == expected and type(value) is type(expected)


def test_kona_2105_soh_and_cell_voltages():
    r = bytearray(46)
    r[0:3] = b"\x62\x01\x05"
    r[28:30] = (1000).to_bytes(2, "big")
    r[34] = 160
    assert extract(bytes(r), 28, 2, scale=0.1) == 100.0
    assert extract(bytes(r), 34, 1, scale=0.5) == 80.0
    cells = bytes(b"\x62\x01\x02" + bytes(4) + bytes(range(180, 212)))
    assert [extract(cells, 7 + i, 1, scale=0.02) for i in (0, 31)] == [3.6, 4.22]


def test_field_beyond_the_response_is_an_error():
    with pytest.raises(FieldError, match="bytes 61-62 asked of a 62-byte response"):
        extract(kona_2101(), 61, 2)
    with pytest.raises(FieldError):
        extract(b"\x62", -1, 1)
    assert extract(b"\x62\x80", 1, 1, signed=True, scale=1, offset=-40) == -168
    assert extract(b"\x62\x80", 1, 1, scale=1, offset=-40.0) == 88.0
