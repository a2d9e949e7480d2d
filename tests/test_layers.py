"""The dependency rule, read from the source (every import statement, also those inside
functions): the domain is pure, the use cases know their ports and not the adapters,
the HTTP layer never speaks SQL, and only the CLI knows the CLI."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "smtp_profile"
STDLIB = frozenset(sys.stdlib_module_names)

# Third-party libraries the domain uses today: certificate parsing and IDNA host names,
# both pure computations on values.
DOMAIN_LIBRARIES = frozenset({"cryptography", "idna"})
FRAMEWORKS = frozenset({"sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "httpx",
                        "aiosmtplib", "typer"})
ADAPTERS = ("store", "server", "cli", "mailer", "oauth", "identity", "pam", "wire", "runtime")


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = PACKAGE.parent) -> Iterator[str]:
    """Every module `path` imports (for `from a import b`, `a` and `a.b`), relative
    imports resolved against its package under `root`."""
    tree = ast.parse(path.read_text(), str(path))
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def sources(layer: str) -> list[Path]:
    root = PACKAGE / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def top(name: str) -> str:
    return name.partition(".")[0]


def inside(name: str, *layers: str) -> bool:
    return any(name == f"smtp_profile.{layer}" or name.startswith(f"smtp_profile.{layer}.")
               for layer in layers)


def offending(layer: str, allowed: object) -> dict[str, list[str]]:
    assert callable(allowed)
    found = {module_name(path): sorted({name for name in imports(path) if not allowed(name)})
             for path in sources(layer)}
    return {module: names for module, names in found.items() if names}


def test_the_rules_see_every_layer() -> None:
    assert all(sources(layer) for layer in ("domain", "usecases", "store", "server", "cli"))
    names = set(imports(PACKAGE / "usecases" / "profile_service.py"))
    assert "smtp_profile.domain.profile" in names  # the reader sees `from ... import`


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    def allowed(name: str) -> bool:
        return (top(name) in STDLIB or top(name) in DOMAIN_LIBRARIES
                or top(name) == "__future__" or inside(name, "domain"))

    assert offending("domain", allowed) == {}


def test_the_use_cases_know_their_ports_not_the_adapters() -> None:
    def allowed(name: str) -> bool:
        return top(name) not in FRAMEWORKS and not inside(name, *ADAPTERS)

    assert offending("usecases", allowed) == {}


def test_the_store_depends_inward_only() -> None:
    def allowed(name: str) -> bool:
        return not inside(name, "server", "cli", "mailer", "oauth", "identity", "pam",
                          "wire", "runtime")

    assert offending("store", allowed) == {}


def test_pam_providers_depend_inward_only() -> None:
    """A provider type is an adapter: it may use the domain and the ports, nothing beside."""
    def allowed(name: str) -> bool:
        return not inside(name, "server", "cli", "mailer", "oauth", "identity", "store",
                          "wire", "runtime")

    assert offending("pam", allowed) == {}


def test_the_http_layer_speaks_no_sql() -> None:
    def allowed(name: str) -> bool:
        return top(name) not in ("sqlalchemy", "alembic")

    assert offending("server", allowed) == {}


@pytest.mark.parametrize("layer", ["domain", "usecases", "store", "server", "mailer",
                                   "oauth", "identity", "pam", "wire", "runtime",
                                   "settings", "logs"])
def test_only_the_cli_imports_the_cli(layer: str) -> None:
    assert offending(layer, lambda name: not inside(name, "cli")) == {}


def test_the_reader_finds_imports_anywhere(tmp_path: Path) -> None:
    """Inside functions, relative or not: an offence cannot hide from the rules above."""
    offence = tmp_path / "smtp_profile" / "usecases" / "offence.py"
    offence.parent.mkdir(parents=True)
    offence.write_text("def f() -> None:\n"
                       "    from sqlalchemy.orm import Session\n"
                       "    from ..store import profiles\n"
                       "    import httpx\n")
    names = set(imports(offence, tmp_path))
    assert {"sqlalchemy.orm", "smtp_profile.store.profiles", "httpx"} <= names


def test_the_database_free_test_files_exist_and_start_nothing_with_a_database() -> None:
    """The PostgreSQL run leaves out tests/conftest.py's DATABASE_FREE files: each must
    exist (a renamed one would silently stay in the list) and name nothing that opens a
    database or starts a service."""
    from tests.conftest import DATABASE_FREE

    root = PACKAGE.parent.parent
    opening = re.compile(r"RunningService|start_service|database_url|serving\(|Runtime|"
                         r"migrate\(|create_engine|service_settings|plain_settings|"
                         r"LocalClient|local_env|AdminPage|CliRunner")
    for relative in sorted(DATABASE_FREE - {"tests/test_layers.py"}):  # (this pattern)
        path = root / relative
        assert path.is_file(), relative
        assert not opening.search(path.read_text(encoding="utf-8")), relative
