"""JSON Schemas of VISS v2 messages, from the specification itself.

Built from ``tests/data/viss``: the transport specification's "JSON Schema Definitions" appendix
(verbatim) and its message tables (getRequest, getSuccessResponse...), with the errata listed in
``tests/data/viss/README.md`` applied here, each marked E1..E7 where it is. Nothing in this module
comes from evscreen's code.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema

from conftest import REPO

DATA = REPO / "tests" / "data" / "viss"
DEFINITIONS: dict[str, Any] = json.loads((DATA / "viss2-definitions.json").read_text())["definitions"]
TABLES: dict[str, dict[str, dict[str, Any]]] = json.loads((DATA / "viss2-messages.json").read_text())
#: VISS v2 core, "Timestamps": YYYY-MM-DDTHH:MM:SS.ssssssZ, UTC, sub-seconds optional.
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"


def definitions() -> dict[str, Any]:
    d = copy.deepcopy(DEFINITIONS)
    d["ts"]["pattern"] = TIMESTAMP
    # E1: a data point's value is a string (or an array of strings, or an object for a struct), not
    # an object only (core, "Data representation"); a data point is "value" and "ts".
    datapoint = copy.deepcopy(d["data"]["properties"]["dp"])
    datapoint["properties"]["value"] = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                                  {"type": "object"}]}
    datapoint["properties"]["ts"] = {"$ref": "#/definitions/ts"}
    datapoint["required"] = ["value", "ts"]
    d["datapoint"] = datapoint
    # E2: data is an array of data objects when several nodes answer, dp an array when several
    # values do (core, "Response syntax").
    data_object = copy.deepcopy(d["data"])
    data_object["properties"]["dp"] = {"oneOf": [{"$ref": "#/definitions/datapoint"},
                                                 {"type": "array", "items": {"$ref": "#/definitions/datapoint"},
                                                  "minItems": 1}]}
    data_object["required"] = ["path", "dp"]
    d["dataObject"] = data_object
    d["data"] = {"oneOf": [{"$ref": "#/definitions/dataObject"},
                           {"type": "array", "items": {"$ref": "#/definitions/dataObject"}}]}
    # E3: a filter is an object or an array of two, and its parameter an object, an array or a
    # string by type (core, "Filter Request"); the tables' "string" and the definition's object-only
    # parameter contradict the core's own examples.
    filter_object = copy.deepcopy(d["filter"])
    filter_object["properties"]["parameter"] = {"type": ["object", "array", "string"]}
    filter_object["required"] = ["type", "parameter"]
    d["filterObject"] = filter_object
    d["filter"] = {"oneOf": [{"$ref": "#/definitions/filterObject"},
                             {"type": "array", "items": {"$ref": "#/definitions/filterObject"}, "minItems": 1,
                              "maxItems": 2}]}
    d["error"]["required"] = [name for name, spec in TABLES["Error"].items() if spec["required"]]
    return d


ACTION_OF = {"get": "get", "set": "set", "subscribe": "subscribe", "subscription": "subscription",
             "unsubscribe": "unsubscribe"}


def _attribute(name: str, kind: str) -> dict[str, Any]:
    if kind == "Action":
        return {"$ref": "#/definitions/action"}
    if kind == "Error":
        return {"$ref": "#/definitions/error"}
    if name in DEFINITIONS:
        return {"$ref": f"#/definitions/{name}"}
    if name == "value":
        return {"type": ["string", "array", "object"]}
    return {"type": kind}


def message_schema(name: str) -> dict[str, Any]:
    table = copy.deepcopy(TABLES[name]) if name in TABLES else {}
    if name == "unsubscribeErrorResponse":
        # E5: the specification's own example has no subscriptionId (the request may have had none).
        table["subscriptionId"]["required"] = False
    if name == "getMetadataResponse":
        # E6: metadata responses have no table; their shape is the transport examples'.
        table = {"action": {"type": "Action", "required": True}, "requestId": {"type": "string", "required": True},
                 "metadata": {"type": "object", "required": True}, "ts": {"type": "string", "required": True}}
    if name == "errorResponse":
        # E7: an error to a message whose action or requestId could not be read: only error and ts.
        table = {"action": {"type": "Action", "required": False}, "requestId": {"type": "string", "required": False},
                 "error": {"type": "Error", "required": True}, "ts": {"type": "string", "required": True}}
    properties = {attr: _attribute(attr, spec["type"]) for attr, spec in table.items()}
    required = [attr for attr, spec in table.items() if spec["required"]]
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "definitions": definitions()}
    action = next((a for prefix, a in ACTION_OF.items() if name.startswith(prefix)), None)
    if action is not None and name != "errorResponse":
        schema["properties"]["action"] = {"allOf": [{"$ref": "#/definitions/action"}, {"const": action}]}
    return schema


SCHEMAS = {name: message_schema(name) for name in [*TABLES, "getMetadataResponse", "errorResponse"] if name != "Error"}
VALIDATORS = {name: jsonschema.Draft7Validator(schema) for name, schema in SCHEMAS.items()}


def kind_of(message: dict[str, Any]) -> str:
    """Which of the specification's server messages this is."""
    action = message.get("action")
    if "error" in message:
        if action is None or "requestId" not in message and action != "subscription":
            return "errorResponse"
        return "subscriptionErrorEvent" if action == "subscription" else f"{action}ErrorResponse"
    if action == "subscription":
        return "subscriptionEvent"
    if action == "get" and "metadata" in message:
        return "getMetadataResponse"
    return f"{action}SuccessResponse"


def check(message: dict[str, Any], kind: str | None = None) -> str:
    """Validate a message against its schema; returns its kind. Raises jsonschema.ValidationError."""
    kind = kind or kind_of(message)
    if kind not in VALIDATORS:
        raise jsonschema.ValidationError(f"not a VISS v2 message: {kind}")
    VALIDATORS[kind].validate(message)
    return kind
