"""No import cycle between evscreen's modules, counting the imports inside functions.

import-linter (``lint-imports``, contracts in pyproject.toml) checks which layer may import which,
but not cycles. A cycle hidden in a function-level import still ties two modules together: neither
can be understood, tested or moved without the other. So this test reads every module's source with
``ast``, builds the module import graph with every import statement wherever it stands (module
level, function, method, try/except), except those under ``if TYPE_CHECKING:``, which never run, and
fails naming each cycle it finds.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import evscreen

# Each entry is the set of modules of one cycle that is known and being removed elsewhere.
# The test fails when a cycle not listed here appears, and when a listed one is gone (so the
# list never outlives the cycle).
KNOWN_CYCLES: set[frozenset[str]] = {
    # removed by the lifecycle branch: probe reads cli's --debug flag; it will be passed in instead
    frozenset({"evscreen.cli", "evscreen.tools.probe"}),
    # removed by the lifecycle branch: shared GPS types and constants move to a module both import
    frozenset({"evscreen.drivers.gps", "evscreen.drivers.gpsd"}),
}

Graph = dict[str, set[str]]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Every module of the package in ``package_dir``, by dotted name (packages by their own name)."""
    top = package_dir.name
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [top, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree, at any depth, except in the body of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def import_graph(package_dir: Path) -> Graph:
    """Module -> the package's modules it imports, anywhere in its code but under TYPE_CHECKING.

    ``from a.b import c`` imports the module ``a.b.c`` when there is one, else the module ``a.b``.
    The parent packages that Python runs on the way are not counted: a package's ``__init__`` that
    re-exports from its own submodules is not a cycle anybody has to untangle.
    """
    modules = module_files(package_dir)
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                # `import a.b.c` with a.b.c not a module of ours (a name in it, or another package)
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def strongly_connected(graph: Graph) -> list[set[str]]:
    """The graph's strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def shortest_cycle(graph: Graph, component: set[str]) -> list[str]:
    """One shortest cycle through the component's first module, as a path back to itself."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def cycles(package_dir: Path) -> dict[frozenset[str], list[str]]:
    graph = import_graph(package_dir)
    return {frozenset(c): shortest_cycle(graph, c) for c in strongly_connected(graph)}


def test_no_import_cycle_between_evscreen_modules() -> None:
    found = cycles(Path(evscreen.__file__).parent)
    new = [" -> ".join(path) for members, path in found.items() if members not in KNOWN_CYCLES]
    gone = [sorted(members) for members in KNOWN_CYCLES if members not in found]
    assert not new, "import cycles (imports inside functions count): " + "; ".join(sorted(new))
    assert not gone, f"these known cycles are gone, remove them from KNOWN_CYCLES: {gone}"


# --- the checker itself finds what it must, and only that ---------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for relative, source in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return package


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg import b\n",
        "sub/__init__.py": "",
        "sub/c.py": "def late():\n    from ..a import thing\n",
        "b.py": "import os\nclass B:\n    def m(self):\n        try:\n            import pkg.sub.c\n"
                "        except ImportError:\n            pass\n",
    })
    assert cycles(package) == {frozenset({"pkg.a", "pkg.b", "pkg.sub.c"}): ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]}


def test_type_checking_imports_and_package_reexports_are_no_cycle(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "__init__.py": "from pkg.a import A\n",
        "a.py": "from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from pkg.b import B\n"
                "class A: ...\n",
        "b.py": "import typing\nfrom pkg.a import A\nif typing.TYPE_CHECKING:\n    import pkg.a\nelse:\n    pass\n",
        "c.py": "from . import a\nfrom .a import A\n",
    })
    graph = import_graph(package)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": set(), "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert cycles(package) == {}


def test_an_import_in_the_else_of_type_checking_counts(tmp_path: Path) -> None:
    package = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "import pkg.b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\nelse:\n    from pkg import a\n",
    })
    assert cycles(package) == {frozenset({"pkg.a", "pkg.b"}): ["pkg.a", "pkg.b", "pkg.a"]}
