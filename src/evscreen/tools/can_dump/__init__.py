"""``evscreen can-dump``: decode a live bus or a log file with a DBC, as a table, lines or JSON lines.

Frames come from :mod:`evscreen.can.logs` (files) or a python-can bus (:mod:`.sources`), pass the
filters (:mod:`.filters`), are counted per ID (:mod:`.counting`), decoded by the compiled decoder
and written by :mod:`.lines` or shown by :mod:`.table`. The options are declared once in
:mod:`.options`; :mod:`.command` runs it all. A summary goes to stderr at the end so that
``--format jsonl`` output stays clean for pipes.
The package itself imports nothing, so that the CLI can read the option table without loading the
decoder; the entry point is :func:`evscreen.tools.can_dump.command.main`.
"""
