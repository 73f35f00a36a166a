"""Extract the JSON Schema definitions and the message tables of the VISS v2 transport specification.

    python tests/data/viss/extract.py VISSv2_Transport.html tests/data/viss

writes ``viss2-definitions.json`` (the appendix "JSON Schema Definitions", verbatim) and
``viss2-messages.json`` (every "Object Name / Attribute / Type / Required" table of the WebSocket
chapter, as data). Nothing is corrected here: ``tests/viss_schema.py`` applies the documented errata.
"""

from __future__ import annotations

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path


class Tables(HTMLParser):
    """Rows of the tables whose header is Object Name / Attribute / Type / Required."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def message_tables(text: str) -> dict[str, dict[str, dict[str, object]]]:
    parser = Tables()
    parser.feed(text)
    messages: dict[str, dict[str, dict[str, object]]] = {}
    for rows in parser.tables:
        if not rows or rows[0] != ["Object Name", "Attribute", "Type", "Required"]:
            continue
        name = None
        for row in rows[1:]:
            if len(row) == 4:
                name = row[0]
                row = row[1:]
            assert name is not None and len(row) == 3, row
            attribute, kind, required = row
            messages.setdefault(name, {})[attribute] = {"type": kind, "required": required == "Yes"}
    return messages


def definitions(text: str) -> dict[str, object]:
    start = text.index("JSON Schema Definitions")
    block = re.search(r"<pre><code>(.*?)</code></pre>", text[start:], re.DOTALL)
    assert block is not None
    return json.loads(html.unescape(block.group(1)))


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    text = source.read_text(encoding="utf-8")
    (out / "viss2-definitions.json").write_text(json.dumps(definitions(text), indent=4) + "\n")
    (out / "viss2-messages.json").write_text(json.dumps(message_tables(text), indent=2) + "\n")


if __name__ == "__main__":
    main()
