"""The VSS tree evscreen serves: the catalog's leaves and the branches above them (pure).

A path addresses a leaf (one signal) or a branch (every leaf below it, in catalog order). VISS
allows ``.`` or ``/`` between node names; paths filters add relative paths in which ``*`` stands
for one node name.
"""

from __future__ import annotations

from collections.abc import Iterable

from evscreen.vss.catalog import Signal


class SignalTree:
    def __init__(self, signals: Iterable[Signal]) -> None:
        self.leaves: dict[str, Signal] = {}
        #: Branch path -> the leaves below it, in catalog order.
        self.branches: dict[str, list[Signal]] = {}
        for signal in signals:
            if signal.path in self.leaves:
                raise ValueError(f"{signal.path} is in the catalog twice")
            self.leaves[signal.path] = signal
            parts = signal.path.split(".")
            for depth in range(1, len(parts)):
                self.branches.setdefault(".".join(parts[:depth]), []).append(signal)
        clash = set(self.leaves) & set(self.branches)
        if clash:
            raise ValueError(f"{min(clash)} is both a leaf and a branch")

    def is_leaf(self, path: str) -> bool:
        return path in self.leaves

    def resolve(self, path: str) -> list[Signal] | None:
        """The leaves ``path`` (a normalized path) addresses, or None when it names no node."""
        leaf = self.leaves.get(path)
        if leaf is not None:
            return [leaf]
        return self.branches.get(path)

    def match(self, base: str, relative: str) -> list[Signal]:
        """The leaves addressed by ``relative`` below ``base``; ``*`` matches any one node name."""
        pattern = relative.split(".")
        found: list[Signal] = []
        seen: set[str] = set()
        for node in (*self.branches, *self.leaves):
            if not node.startswith(base + "."):
                continue
            names = node[len(base) + 1:].split(".")
            if len(names) == len(pattern) and all(p in ("*", n) for p, n in zip(pattern, names)):
                for signal in self.resolve(node) or ():
                    if signal.path not in seen:
                        seen.add(signal.path)
                        found.append(signal)
        order = {path: i for i, path in enumerate(self.leaves)}
        return sorted(found, key=lambda s: order[s.path])


def normalize(path: str) -> str:
    """``Vehicle/Cabin/Infotainment`` and ``/Vehicle/...`` (HTTP style) as ``Vehicle.Cabin.Infotainment``."""
    if "/" in path:
        path = path.removeprefix("/").replace("/", ".")
    return path
