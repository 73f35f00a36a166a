"""The car's memory: trips and charge sessions detected from the vehicle state, kept in SQLite.

``sample`` reads the state, ``meters`` measures energy and distance between samples,
``detectors`` turns samples into trips and sessions, ``store`` keeps them on disk and ``sink``
runs all of it beside the server (docs/journal.md).
"""
