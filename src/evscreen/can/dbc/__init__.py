"""DBC files: the project's own bus description and a fast compiled decoder (pure, no I/O).

- :mod:`evscreen.can.dbc.loader` reads a DBC leniently through cantools and turns it into a plain
  :data:`~evscreen.can.dbc.spec.DbcSpec`, cached on disk so that later runs need no cantools at all.
- :mod:`evscreen.can.dbc.codegen` writes one Python decode function per message from that spec.
- :mod:`evscreen.can.dbc.decoder` holds :class:`DbcDecoder`, which looks frames up and decodes them.
- :mod:`evscreen.can.dbc.mapping` maps telemetry fields to ``Message.Signal`` (and back).
"""

from __future__ import annotations

from pathlib import Path

#: The DBC of the bus evscreen's simulated vehicle speaks, and the default for ``[can] dbc``.
PROJECT_DBC = Path(__file__).with_name("evscreen.dbc")
