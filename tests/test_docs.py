"""The documentation agrees with the code: configuration.md is generated, asyncapi.yaml is valid."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import REPO
from evscreen.config import key_specs
from evscreen.config.docs import configuration_markdown
from evscreen.protocol import ACTIONS, ErrorCode
from evscreen.state import telemetry_paths

DOCS = REPO / "docs"
ASYNCAPI_SCHEMA = json.loads((REPO / "tests" / "data" / "asyncapi-3.0.0.schema.json").read_text())


# --- configuration.md -------------------------------------------------------------------------------


def test_configuration_md_is_the_generated_text():
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    generated = configuration_markdown()
    if committed != generated:
        old, new = committed.splitlines(), generated.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        pytest.fail(
            "docs/configuration.md does not match the config keys; regenerate it with\n"
            "    python -m evscreen.config.docs > docs/configuration.md\n"
            f"first difference at line {first + 1}:\n"
            f"  committed: {old[first] if first < len(old) else '(end of file)'}\n"
            f"  generated: {new[first] if first < len(new) else '(end of file)'}"
        )


def test_configuration_markdown_names_every_key_with_default_type_and_variable():
    text = configuration_markdown()
    for spec in key_specs():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{spec.name}` |") and spec.env_var in line]
        assert len(rows) == 1, spec.path
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[0])[1:-1]]
        assert len(cells) == 5, rows[0]
        assert cells[1] and cells[2] and spec.help.split(".")[0] in cells[4], rows[0]
        if spec.secret:
            assert "Secret" in cells[4]


def test_configuration_markdown_escapes_table_cells():
    text = configuration_markdown()
    for line in text.splitlines():
        if line.startswith("| `"):
            assert len(re.split(r"(?<!\\)\|", line)) == 7, line


# --- asyncapi.yaml ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))


def test_asyncapi_is_valid_against_the_official_schema(asyncapi):
    assert asyncapi["asyncapi"] == "3.0.0"
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).iter_errors(asyncapi)]
    assert errors == []
    for section in ("info", "servers", "channels", "operations", "components"):
        assert asyncapi[section], section


def test_the_official_schema_catches_mistakes(asyncapi):
    """The validator used above is not a rubber stamp."""
    validator = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)
    broken = json.loads(json.dumps(asyncapi))
    broken["operations"]["sendTelemetry"]["action"] = "publish"  # AsyncAPI 2 wording
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(asyncapi))
    del broken["info"]["version"]
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(asyncapi))
    broken["operations"]["publishStatus"]["bindings"]["mqtt"]["qos"] = 3
    assert not validator.is_valid(broken)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _pointer(doc: Any, ref: str) -> Any:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_every_reference_resolves(asyncapi):
    refs = list(_refs(asyncapi))
    assert refs
    for ref in refs:
        if ref.startswith("#/"):
            _pointer(asyncapi, ref)  # KeyError names the broken reference
        else:
            path = (DOCS / ref.split("#")[0]).resolve()
            assert path.is_file(), f"{ref}: no such file"
            schema = json.loads(path.read_text())
            jsonschema.Draft202012Validator.check_schema(schema)


def test_operations_use_their_channels_messages(asyncapi):
    for name, operation in asyncapi["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), f"{name}: {message['$ref']}"
            _pointer(asyncapi, message["$ref"])
        reply = operation.get("reply")
        if reply:
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply["channel"]["$ref"] + "/messages/"), name


def _payload_schema(payload: Any) -> Any:
    """The payload with each reference to docs/schema/*.json replaced by that schema."""
    if isinstance(payload, dict):
        ref = payload.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return json.loads((DOCS / ref).read_text())
        return {key: _payload_schema(value) for key, value in payload.items()}
    if isinstance(payload, list):
        return [_payload_schema(value) for value in payload]
    return payload


def test_every_channel_message_has_a_payload_and_valid_examples(asyncapi):
    checked = 0
    for channel_name, channel in asyncapi["channels"].items():
        assert channel["messages"], channel_name
        for message_ref in channel["messages"].values():
            message = _pointer(asyncapi, message_ref["$ref"])
            schema = _payload_schema(message["payload"])
            validator = jsonschema.Draft202012Validator(schema)
            for example in message.get("examples", []):
                errors = [e.message for e in validator.iter_errors(example["payload"])]
                assert errors == [], f"{channel_name} example {example['name']}: {errors}"
                checked += 1
    assert checked > 20


def test_every_action_and_error_code_appears(asyncapi):
    commands = asyncapi["components"]["messages"]["command"]["examples"]
    assert {e["payload"]["action"] for e in commands} == set(ACTIONS)
    responses = asyncapi["components"]["messages"]["response"]["examples"]
    assert {e["payload"].get("code") for e in responses} - {None} == {c.value for c in ErrorCode}


def test_mqtt_topics_follow_the_documented_layout(asyncapi):
    addresses = {c["address"] for c in asyncapi["channels"].values()}
    for topic in ("{prefix}/status", "{prefix}/telemetry", "{prefix}/state/{field}", "{prefix}/state/{group}/{field}",
                  "{prefix}/command", "{prefix}/response"):
        assert topic in addresses
    # One state topic per telemetry value: the enums are exactly the telemetry's leaves.
    paths = telemetry_paths()
    scalar = asyncapi["channels"]["mqttState"]["parameters"]["field"]["enum"]
    grouped = asyncapi["channels"]["mqttGroupState"]["parameters"]
    assert set(scalar) == {p for p in paths if "." not in p}
    assert set(grouped["group"]["enum"]) == {p.split(".")[0] for p in paths if "." in p}
    assert set(grouped["field"]["enum"]) == {p.split(".")[1] for p in paths if "." in p}


def test_the_telemetry_example_covers_every_field(asyncapi):
    example = asyncapi["components"]["messages"]["telemetry"]["examples"][0]["payload"]
    for path in telemetry_paths():
        group, _, name = path.partition(".")
        assert (name in example[group]) if name else (group in example), path


# --- the other pages ----------------------------------------------------------------------------------


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))


def test_readme_links_every_doc_and_shows_the_dashboard():
    links = set(_links(REPO / "README.md"))
    for doc in sorted(DOCS.glob("*.md")) + [DOCS / "asyncapi.yaml"]:
        assert f"docs/{doc.name}" in links, f"README.md does not link docs/{doc.name}"
    for size in ("800x480", "1024x600", "1280x720"):  # the car screens it is made for
        assert f"docs/dashboard-{size}.png" in links
        shot = DOCS / f"dashboard-{size}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size < 300_000
        width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the PNG's IHDR
        assert f"{width}x{height}" == size


@pytest.mark.parametrize("page", ["hardware.md", "deployment.md", "troubleshooting.md", "configuration.md"])
def test_links_between_my_pages_resolve(page):
    for link in _links(DOCS / page):
        if re.match(r"[a-z]+:", link):
            continue  # an external address
        assert (DOCS / link).exists() or link in ("can.md", "mqtt.md", "performance.md"), f"{page}: {link}"


def test_hardware_page_has_the_lines_people_copy():
    text = (DOCS / "hardware.md").read_text(encoding="utf-8")
    for line in (
        "dtoverlay=mcp2515-can0,oscillator=",
        "sudo ip link set can0 up type can bitrate 500000",
        "/boot/firmware/config.txt",
        "enable_uart=1",
        "/dev/serial0",
        "/dev/ttyACM0",
        "sudo usermod -aG gpio,dialout,bluetooth",
        "raspi-config",
    ):
        assert line in text, line
