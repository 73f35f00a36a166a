"""COVESA VSS names for evscreen's telemetry and the W3C VISS v2 protocol (pure: no I/O).

``catalog`` maps every telemetry field to its VSS node; ``values`` converts between the two;
``tree`` resolves VSS paths; ``filters``, ``errors`` and ``viss_protocol`` are VISS v2 itself.
The asyncio endpoint that serves it is ``evscreen.server.viss``.
"""
