"""The layering and size rules of ARCHITECTURE.md, checked with ast.

Import rules: each module may import only the package modules listed for it (so nothing
imports upwards and there are no cycles), ``cli/`` is imported by nobody, and each
third-party library stays in the modules that wrap it. Size rules: no module over 450
lines, no function over 50, no click command body over 30. Where today's code does not
meet a size rule yet, the test is an expected failure naming the measured figure; strict,
so it fails as soon as the code is fixed, and the entry must then be removed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imagekit_cli"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 50
MAX_COMMAND_BODY_LINES = 30

# module -> package modules it may import. runner.py is the library-level orchestration
# the thin commands call; cli/ may import anything.
ALLOWED = {
    "errors": set(),
    "files": {"errors"},
    "text": set(),
    "answers": {"errors"},
    "config": {"errors", "files"},
    "concurrency": {"config"},
    "auth": {"errors", "config", "text"},
    "limits": {"errors"},
    "naming": {"errors"},
    "planning": {"errors", "config", "limits", "plan_guards", "naming", "text"},
    "plan_guards": set(),
    "multipart": {"errors"},
    "client": {"errors", "auth", "config", "answers", "multipart"},
    "retry": {"errors", "client"},
    "remote": {
        "errors",
        "client",
        "planning",
        "config",
        "report",
        "retry",
        "sync_state",
        "naming",
    },
    "sync_state": {"errors"},
    "engine": {
        "errors",
        "client",
        "retry",
        "report",
        "events",
        "auth",
        "lookup",
        "breaker",
        "interrupts",
        "concurrency",
    },
    "breaker": set(),
    "interrupts": {"errors"},
    "lookup": {"errors", "client", "retry"},
    "report": {"errors", "plan_guards"},
    "events": {"report"},
    "report_files": {"errors", "events", "files", "limits", "report", "text"},
    "ui": {"report", "events", "errors", "limits", "tables", "text"},
    "tables": {"limits", "report", "text"},
    "url_map": {"errors", "files", "planning", "report", "events"},
    "manifest": {"errors", "planning", "runner", "naming"},
    "report_read": {"errors", "report"},
    "json_shapes": {"errors"},
    "sync_plan": {
        "errors",
        "events",
        "files",
        "limits",
        "naming",
        "report",
        "report_read",
        "runner",
        "text",
    },
    "apply_checks": {"errors", "naming", "plan_guards", "sync_plan"},
    "applying": {
        "apply_checks",
        "auth",
        "client",
        "engine",
        "events",
        "planning",
        "remote",
        "report",
        "runner",
        "sync_delete",
        "sync_plan",
        "sync_state",
        "syncing",
    },
    "runner": {
        "errors",
        "auth",
        "config",
        "client",
        "engine",
        "events",
        "planning",
        "report",
        "report_read",
        "retry",
        "remote",
        "limits",
        "interrupts",
        "concurrency",
    },
    "uploading": {
        "errors",
        "auth",
        "config",
        "events",
        "manifest",
        "planning",
        "report",
        "runner",
    },
    "syncing": {
        "errors",
        "auth",
        "config",
        "client",
        "engine",
        "events",
        "planning",
        "report",
        "retry",
        "remote",
        "runner",
        "sync_state",
        "sync_delete",
        "concurrency",
    },
    "sync_delete": {"errors", "client", "events", "remote", "report", "retry", "sync_state"},
}
THIRD_PARTY_HOME = {
    "click": {"cli"},
    "rich": {"ui", "tables", "cli"},
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


def test_no_file_cites_documents_outside_the_repository() -> None:
    """Comments point to ARCHITECTURE.md or ImageKit's public docs, which a reader can open."""
    outside = ("DESIGN" + ".md", "imagekit-api" + ".md", "../" + "shared")
    tests = PACKAGE.parent / "tests"
    for path in [*PACKAGE.rglob("*.py"), *tests.rglob("*.py")]:
        text = path.read_text()
        cited = [name for name in outside if name in text]
        assert not cited, f"{path.relative_to(PACKAGE.parent)} cites {cited}"


def test_architecture_md_maps_every_module() -> None:
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    mapped = [m for m in MODULES if m not in ("__init__.py", "__main__.py")]
    missing = [m for m in mapped if f"`{m}`" not in text]
    assert not missing, f"add to ARCHITECTURE.md's module map: {missing}"


def test_every_listener_has_the_one_reporter_base_class() -> None:
    from imagekit_cli.events import NullReporter, Reporter

    listeners = []
    for module in MODULES:
        if module == "__main__.py":
            continue
        dotted = module.removesuffix(".py").removesuffix("__init__").replace("/", ".")
        name = "imagekit_cli." + dotted.rstrip(".") if dotted else "imagekit_cli"
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if cls is not Reporter and callable(getattr(cls, "finished", None)):
                listeners.append(cls)
                assert issubclass(cls, NullReporter), f"{cls.__qualname__} in {module}"
    assert len(listeners) >= 8  # the UI's three, the writers, the URL map, sync state, ...


def test_the_rules_have_no_cycle() -> None:
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, f"import cycle: {' -> '.join((*trail, module))}"
        if module in done:
            return
        for target in ALLOWED.get(module, set()):
            visit(target, (*trail, module))
        done.add(module)

    for module in ALLOWED:
        visit(module, ())


# (rule, module) -> the figure measured when the rule was introduced. Each entry is an
# expected failure; delete it when the module is brought within the rule.
NOT_YET: dict[tuple[str, str], str] = {}
MODULES = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py"))
COMMAND_MODULES = [m for m in MODULES if m.startswith("cli/")]


def _params(rule: str, modules: list[str]) -> list[object]:
    return [
        pytest.param(m, marks=pytest.mark.xfail(strict=True, reason=f"{m}: {NOT_YET[rule, m]}"))
        if (rule, m) in NOT_YET
        else m
        for m in modules
    ]


def _functions(module: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse((PACKAGE / module).read_text())
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of the body after the docstring."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def _is_click_command(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        "command" in ast.unparse(d) or "group" in ast.unparse(d) for d in function.decorator_list
    )


@pytest.mark.parametrize("module", _params("module", MODULES))
def test_no_module_over_450_lines(module: str) -> None:
    lines = len((PACKAGE / module).read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


@pytest.mark.parametrize("module", _params("functions", MODULES))
def test_no_function_over_50_lines(module: str) -> None:
    long = {
        f.name: (f.end_lineno or f.lineno) - f.lineno + 1
        for f in _functions(module)
        if (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert not long, f"{module}: {long}"


@pytest.mark.parametrize("module", _params("commands", COMMAND_MODULES))
def test_click_command_bodies_are_thin(module: str) -> None:
    long = {
        f.name: _body_lines(f)
        for f in _functions(module)
        if _is_click_command(f) and _body_lines(f) > MAX_COMMAND_BODY_LINES
    }
    assert not long, f"{module}: {long}"


def test_the_size_checks_see_what_they_measure() -> None:
    """The measures themselves: a command found, a body counted without its docstring."""
    commands = [f for f in _functions("cli/ls.py") if _is_click_command(f)]
    assert [f.name for f in commands] == ["ls"]
    assert 0 < _body_lines(commands[0]) < (commands[0].end_lineno or 0) - commands[0].lineno
