"""The test matrix: the whole suite on each Python evscreen supports, one fresh virtualenv each.

    pip install nox
    nox                          # 3.10, 3.11 and 3.13, one after the other
    nox -s tests-3.13            # one of them
    nox -s tests-3.10 -- -x -k mqtt   # pytest's arguments after --

Raspberry Pi OS Bookworm ships Python 3.11 and Trixie 3.13; 3.10 is the oldest evscreen supports.
nox finds each interpreter as ``python3.X`` on PATH (with pyenv: ``PYENV_VERSION=3.11.7:3.10.13:3.13.0``
makes its shims answer for all three). Each session runs README.md's test command in its own
virtualenv, except that it installs the package as a wheel, not editable: the matrix also checks
that what is packaged is enough to run (README's editable install checks the checkout).
"""

from __future__ import annotations

import nox

#: The versions pyproject's classifiers list; keep the two in step.
PYTHONS = ["3.10", "3.11", "3.13"]

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = True  # a matrix that silently skips a version proves nothing


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Install evscreen with its test extras and run the whole suite."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", *session.posargs)
