"""Lazy references to code as ``"package.module:attribute"`` strings (python-can's registry model).

A registry of such strings (the sources, the probes) imports a module only when its entry is
used, so a library that only one entry needs matters only to the person who chose that entry.
"""

from __future__ import annotations

import importlib
from typing import Any


def import_string(target: str) -> Any:
    """The object ``target`` names, importing its module now.

    Raises :class:`ImportError` when the module (or a library it imports) is missing or does not
    define the attribute, and :class:`ValueError` when ``target`` is not ``"module:attribute"``.
    """
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{target!r} is not a 'package.module:attribute' reference")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"{module_name} has no {attribute}", name=module_name) from None
