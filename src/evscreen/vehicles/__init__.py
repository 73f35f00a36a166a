"""Vehicle profiles: what evscreen needs to read one car (docs/vehicles.md).

``profile`` is the format and its checks (pure), ``loader`` finds built-in and user profiles and
turns the configuration into the DBC and mapping the CAN source uses; ``builtin/`` holds the
profiles shipped with evscreen, with their DBCs and licences.
"""
