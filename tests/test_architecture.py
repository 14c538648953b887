"""The import rules of DESIGN.md §2, checked with ast."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "imagekit_cli"

# module -> package modules it may import (DESIGN.md §2; runner.py is the library-level
# orchestration the thin commands call, see the issue notes).
ALLOWED = {
    "errors": set(),
    "files": set(),
    "text": set(),
    "answers": {"errors"},
    "config": {"errors", "files"},
    "concurrency": {"config"},
    "auth": {"errors", "config"},
    "limits": {"errors"},
    "planning": {"errors", "config", "limits"},
    "client": {"errors", "auth", "config", "answers"},
    "retry": {"errors", "client"},
    "remote": {"errors", "client", "planning", "config", "report", "retry"},
    "engine": {"errors", "client", "retry", "report", "auth", "concurrency"},
    "report": {"errors", "files", "text"},
    "ui": {"report", "errors", "limits", "text"},
    "url_map": {"errors", "files", "planning", "report"},
    "manifest": {"errors", "planning", "runner"},
    "report_read": {"errors", "report"},
    "json_shapes": {"errors"},
    "runner": {
        "errors",
        "auth",
        "client",
        "engine",
        "planning",
        "report",
        "retry",
        "remote",
        "limits",
        "concurrency",
    },
}
THIRD_PARTY_HOME = {
    "click": {"cli"},
    "rich": {"ui", "cli"},
    "httpx": {"client", "retry"},
    "tenacity": {"retry"},
    "pathspec": {"planning"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _module_key(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return "cli" if rel.parts[0] == "cli" else rel.stem


def test_every_module_is_covered() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(ALLOWED), f"add rules for {modules - set(ALLOWED)}"


def test_package_import_rules() -> None:
    for path in PACKAGE.rglob("*.py"):
        key = _module_key(path)
        if key in ("__init__", "__main__", "cli"):
            continue
        for name in _imports(path):
            if name.startswith("imagekit_cli."):
                target = name.split(".")[1]
                assert target != "cli", f"{path.name} imports cli/"
                if target != "__init__" and name != "imagekit_cli":
                    assert target in ALLOWED[key], f"{path.name} may not import {target}"


def test_third_party_libraries_stay_home() -> None:
    for path in PACKAGE.rglob("*.py"):
        key = _module_key(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in THIRD_PARTY_HOME:
                assert key in THIRD_PARTY_HOME[top], f"{path} imports {top}"


def test_nothing_imports_cli() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.name == "__main__.py":
            continue
        assert not any(n.split(".")[:2] == ["imagekit_cli", "cli"] for n in _imports(path)), path
