"""Names of diagnostic services and negative response codes, and which services only read.

One service-ID space carries three standards: OBD-II modes 0x01–0x0A (SAE J1979), KWP2000
(ISO 14230, still answered by many ECUs, Hyundai's among them) and UDS (ISO 14229-1). A positive
response is the request's ID + 0x40; 0x7F is a negative response.
"""

from __future__ import annotations

NEGATIVE_RESPONSE = 0x7F
RESPONSE_OFFSET = 0x40

SERVICES = {
    # SAE J1979 / ISO 15031-5
    0x01: "OBD current data",
    0x02: "OBD freeze frame data",
    0x03: "OBD stored DTCs",
    0x04: "OBD clear DTCs",
    0x05: "OBD oxygen sensor monitoring",
    0x06: "OBD on-board monitoring",
    0x07: "OBD pending DTCs",
    0x08: "OBD control of on-board system",
    0x09: "OBD vehicle information",
    0x0A: "OBD permanent DTCs",
    # ISO 14229-1 (UDS)
    0x10: "DiagnosticSessionControl",
    0x11: "ECUReset",
    0x14: "ClearDiagnosticInformation",
    0x19: "ReadDTCInformation",
    0x22: "ReadDataByIdentifier",
    0x23: "ReadMemoryByAddress",
    0x24: "ReadScalingDataByIdentifier",
    0x27: "SecurityAccess",
    0x28: "CommunicationControl",
    0x29: "Authentication",
    0x2A: "ReadDataByPeriodicIdentifier",
    0x2C: "DynamicallyDefineDataIdentifier",
    0x2E: "WriteDataByIdentifier",
    0x2F: "InputOutputControlByIdentifier",
    0x31: "RoutineControl",
    0x34: "RequestDownload",
    0x35: "RequestUpload",
    0x36: "TransferData",
    0x37: "RequestTransferExit",
    0x38: "RequestFileTransfer",
    0x3D: "WriteMemoryByAddress",
    0x3E: "TesterPresent",
    0x83: "AccessTimingParameter",
    0x84: "SecuredDataTransmission",
    0x85: "ControlDTCSetting",
    0x86: "ResponseOnEvent",
    0x87: "LinkControl",
    # ISO 14230-3 (KWP2000) services UDS dropped
    0x12: "ReadFreezeFrameData",
    0x13: "ReadDiagnosticTroubleCodes",
    0x17: "ReadStatusOfDiagnosticTroubleCodes",
    0x18: "ReadDiagnosticTroubleCodesByStatus",
    0x1A: "ReadEcuIdentification",
    0x20: "StopDiagnosticSession",
    0x21: "ReadDataByLocalIdentifier",
    0x30: "InputOutputControlByLocalIdentifier",
    0x3B: "WriteDataByLocalIdentifier",
}

#: Services that only read: the only ones the poller may send (0x3E keeps a session, changes nothing).
READ_ONLY_SERVICES = frozenset({0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x09, 0x0A,
                                0x12, 0x13, 0x17, 0x18, 0x19, 0x1A, 0x21, 0x22, 0x3E})

#: Services that clear the car's fault memory: sent only by an explicit, confirmed command.
CLEAR_SERVICES = frozenset({0x04, 0x14})

#: ISO 14229-1 negative response codes (KWP2000 shares the ones it has).
NRC = {
    0x10: "generalReject",
    0x11: "serviceNotSupported",
    0x12: "subFunctionNotSupported",
    0x13: "incorrectMessageLengthOrInvalidFormat",
    0x14: "responseTooLong",
    0x21: "busyRepeatRequest",
    0x22: "conditionsNotCorrect",
    0x24: "requestSequenceError",
    0x25: "noResponseFromSubnetComponent",
    0x26: "failurePreventsExecutionOfRequestedAction",
    0x31: "requestOutOfRange",
    0x33: "securityAccessDenied",
    0x35: "invalidKey",
    0x36: "exceedNumberOfAttempts",
    0x37: "requiredTimeDelayNotExpired",
    0x70: "uploadDownloadNotAccepted",
    0x71: "transferDataSuspended",
    0x72: "generalProgrammingFailure",
    0x73: "wrongBlockSequenceCounter",
    0x78: "requestCorrectlyReceivedResponsePending",
    0x7E: "subFunctionNotSupportedInActiveSession",
    0x7F: "serviceNotSupportedInActiveSession",
    0x81: "rpmTooHigh",
    0x82: "rpmTooLow",
    0x83: "engineIsRunning",
    0x84: "engineIsNotRunning",
    0x85: "engineRunTimeTooLow",
    0x86: "temperatureTooHigh",
    0x87: "temperatureTooLow",
    0x88: "vehicleSpeedTooHigh",
    0x89: "vehicleSpeedTooLow",
    0x8A: "throttlePedalTooHigh",
    0x8B: "throttlePedalTooLow",
    0x8C: "transmissionRangeNotInNeutral",
    0x8D: "transmissionRangeNotInGear",
    0x8F: "brakeSwitchNotClosed",
    0x90: "shifterLeverNotInPark",
    0x91: "torqueConverterClutchLocked",
    0x92: "voltageTooHigh",
    0x93: "voltageTooLow",
}

#: The negative responses after which the same request will never succeed: stop sending it.
NRC_GIVE_UP = frozenset({0x11, 0x12, 0x31, 0x7E, 0x7F})
NRC_PENDING = 0x78
NRC_BUSY = 0x21


def service_name(sid: int) -> str:
    return SERVICES.get(sid, f"service 0x{sid:02X}")


def nrc_name(code: int) -> str:
    if code in NRC:
        return NRC[code]
    if 0x38 <= code <= 0x4F:
        return "reservedByExtendedDataLinkSecurity"
    if 0x94 <= code <= 0xFE:
        return "vehicleManufacturerSpecificConditionsNotCorrect"
    return "ISOSAEReserved"


def is_response(sid: int) -> bool:
    """A response SID: 0x7F (negative), 0x41–0x7E and 0xC3–0xC7 (positive, request + 0x40)."""
    return sid == NEGATIVE_RESPONSE or 0x41 <= sid <= 0x7E or 0xC0 <= sid <= 0xFE
