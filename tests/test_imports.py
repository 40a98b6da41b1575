"""backend/, config.py and presentation.py stay free of Textual: they must run (and be
tested) alone; the command line loads it only to run the console. And the import graph:
no cycle, no import inside a function but the listed ones."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ferrite_tui
import ferrite_tui.backend
from import_contracts import find_cycles


def backend_modules() -> list[str]:
    """Every module under backend/, its sub-packages' too (backend/libraries/...)."""
    return sorted(m.name for m in pkgutil.walk_packages(ferrite_tui.backend.__path__,
                                                         prefix="ferrite_tui.backend."))


def test_backend_and_config_import_no_textual():
    modules = [*backend_modules(), "ferrite_tui.config", "ferrite_tui.formatting",
               "ferrite_tui.presentation", "ferrite_tui.urls", "ferrite_tui.cli"]
    assert "ferrite_tui.backend.client" in modules
    assert "ferrite_tui.backend.libraries.rq" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"textual imported by the backend: {out.stdout}"


def test_backend_source_has_no_keys_or_whole_list_reads():
    """SCAN, never KEYS; paged reads, never LRANGE 0 -1 on user data."""
    import importlib
    import inspect
    import re

    for name in backend_modules():
        source = inspect.getsource(importlib.import_module(name))
        assert not re.search(r"\.keys\(\s*['\"]", source), name
        assert not re.search(r"lrange\([^)]*,\s*0\s*,\s*-1\s*\)", source), name


# -- the import graph ---------------------------------------------------------------------

PACKAGE_ROOT = Path(ferrite_tui.__file__).parent

#: The only imports allowed inside a function: optional dependencies (absent from a plain
#: install) and modules loaded late on purpose, each with the reason. Keyed by
#: (importing module, imported module).
LAZY_IMPORTS = {
    # Textual is loaded only to run the console: `status`, `config` and `--help` start
    # without it.
    ("ferrite_tui.cli.console", "ferrite_tui.ui.app"): "start-up time",
    # The command's modules load once the collector is paused (startup.py).
    ("ferrite_tui.cli", "ferrite_tui.cli.command"): "start-up time",
    # `serve` and `exporter` bring aiohttp, textual-serve and prometheus_client.
    ("ferrite_tui.cli.command", "ferrite_tui.serve"): "start-up time",
    ("ferrite_tui.cli.command", "ferrite_tui.exporter"): "start-up time",
    # The console starts without the other commands' modules, the palette's commands and
    # the charts' plotting library (start to first data is a budget, issue 25).
    ("ferrite_tui.cli.command", "ferrite_tui.cli.status"): "start-up time",
    ("ferrite_tui.cli.command", "ferrite_tui.cli.demo"): "start-up time",
    ("ferrite_tui.ui.app", "ferrite_tui.ui.commands"): "start-up time",
    ("ferrite_tui.ui.widgets.trends", "textual_plotext"): "start-up time",
    # Optional packages: the libraries' own APIs, the process title.
    ("ferrite_tui.backend.libraries.bullmq_api", "bullmq"): "optional dependency",
    ("ferrite_tui.backend.libraries.rq_api", "rq"): "optional dependency",
    ("ferrite_tui.backend.libraries.saq_api", "saq"): "optional dependency",
    ("ferrite_tui.backend.libraries.rq_api", "redis"): "loaded with RQ only (its sync client)",
    ("ferrite_tui.credentials", "setproctitle"): "optional dependency",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names, absolute; for `from X import y`, both X and
    X.y (y may be a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts[: len(parts) - node.level + (1 if is_package else 0)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _imports(module: str, path: Path) -> tuple[list[str], list[tuple[int, str, str]]]:
    """(modules imported when the module loads, [(line, function, module) imported inside
    a function]). Imports under `if TYPE_CHECKING:` run nothing and are left out."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    at_load: list[str] = []
    in_function: list[tuple[int, str, str]] = []

    def walk(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    walk(other, function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = _imported(child, module, is_package)
                if function is None:
                    at_load.extend(names)
                else:
                    in_function.extend((child.lineno, function, name) for name in names[:1])
                    at_load.extend(names)  # it runs when called: a cycle all the same
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else function
            walk(child, inner)

    walk(tree, None)
    return at_load, in_function


def _graph() -> dict[str, set[str]]:
    modules = _package_modules()

    def resolve(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        at_load, in_function = _imports(module, path)
        hidden = {resolve(name) for _, _, name in in_function
                  if LAZY_IMPORTS.get((module, resolve(name) or name), "").startswith("cycle")}
        targets = {resolve(name) for name in at_load} - hidden
        graph[module] = {t for t in targets if t is not None and t != module
                         and not module.startswith(t + ".")}  # a package's own __init__
    return graph


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_package_modules():
    """Every import counts, inside functions too (it runs when called): no module of the
    package reaches itself through its imports."""
    graph = _graph()
    assert "ferrite_tui.backend.client" in graph
    assert "ferrite_tui.backend.libraries.rq" in graph
    assert find_cycles(graph) == []


def test_no_import_inside_a_function_but_the_listed_ones():
    """An import inside a function hides a cycle or a layering fault; only optional
    dependencies and deliberate late loads (LAZY_IMPORTS, with the reason) may be there."""
    found = set()
    unlisted = []
    for module, path in _package_modules().items():
        for line, function, name in _imports(module, path)[1]:
            top = name if name.startswith("ferrite_tui.") else name.partition(".")[0]
            key = next(((module, t) for t in (name, top) if (module, t) in LAZY_IMPORTS), None)
            if key is None:
                unlisted.append(f"{path.relative_to(PACKAGE_ROOT.parent)}:{line} "
                                f"{function}() imports {name}")
            else:
                found.add(key)
    assert unlisted == []
    assert set(LAZY_IMPORTS) - found == set(), "listed but no longer there: remove them"
