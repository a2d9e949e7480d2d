"""The HTTP package's layout holds: route modules stand alone, sign-in has one home.

A route module that imports another couples two routes' lifetimes; a second Basic
decoder or requested-with reading is how two ways in drift apart.
"""

from __future__ import annotations

import ast
from pathlib import Path

import smtp_profile.server

SERVER = Path(smtp_profile.server.__file__).resolve().parent
PACKAGE = "smtp_profile.server"


def module_name(path: Path) -> str:
    return ".".join([PACKAGE, *path.relative_to(SERVER).with_suffix("").parts])


def imported(path: Path) -> set[str]:
    """Every module `path` imports, names imported from a package included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = {module_name(p): p for p in SERVER.rglob("*.py")}
ROUTE_MODULES = {name for name in MODULES
                 if name.endswith("_routes") or name.endswith(".fast_read")}


def test_there_are_route_modules() -> None:
    assert {f"{PACKAGE}.api.smtp_routes", f"{PACKAGE}.api.fast_read",
            f"{PACKAGE}.page.session_routes"} <= ROUTE_MODULES


def test_no_route_module_imports_another() -> None:
    crossings = {name: sorted(imported(MODULES[name]) & (ROUTE_MODULES - {name}))
                 for name in ROUTE_MODULES}
    assert {name: found for name, found in crossings.items() if found} == {}


def test_only_the_assembly_imports_the_routes() -> None:
    """server/app.py is the one place the routes are put together."""
    importers = {name for name, path in MODULES.items()
                 if imported(path) & ROUTE_MODULES and name not in ROUTE_MODULES}
    assert importers == {f"{PACKAGE}.app"}


def test_basic_credentials_and_requested_with_are_read_in_one_place() -> None:
    def modules_containing(text: str) -> set[str]:
        return {name for name, path in MODULES.items() if text in path.read_text()}

    assert modules_containing("b64decode") == {f"{PACKAGE}.authentication"}
    assert modules_containing("def requested_with(") == {f"{PACKAGE}.keyfactor_headers"}
