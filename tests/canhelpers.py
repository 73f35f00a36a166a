"""Paths and helpers shared by the CAN tests."""

from __future__ import annotations

from conftest import REALDATA

KONA_DIR = REALDATA / "can" / "kona-ev"
KONA_DBC = KONA_DIR / "pcan.dbc"
KONA_LOG = KONA_DIR / "221217-1-2021-pcan-bcan-no-key.csv"
