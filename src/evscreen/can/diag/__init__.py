"""Vehicle diagnostics over ISO-TP: passive reassembly, OBD-II/UDS/KWP2000 decoding, profile fields.

Pure, like the DBC decoder: :mod:`.isotp` (frames to messages), :mod:`.decode` (a message to its
service and content), :mod:`.obd`, :mod:`.uds`, :mod:`.dtc`, :mod:`.services` (the standards'
tables) and :mod:`.fields` (a profile's values out of a response).
"""
