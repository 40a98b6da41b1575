"""The UI's architecture, checked rather than described: small modules, panels that share
through bases and widgets (never through another panel), panels that reach the server
only through their session."""

from __future__ import annotations

import ast
from pathlib import Path

import ferrite_tui

UI = Path(ferrite_tui.__file__).parent / "ui"
PANELS = UI / "panels"
SHARED = {"base", "list_base", "sorted_base"}  # bases every panel may build on
MAX_LINES = 500


def panel_of(path: Path) -> str | None:
    """The panel a module belongs to (its file or package name), None for shared bases."""
    rel = path.relative_to(PANELS)
    name = rel.parts[0].removesuffix(".py")
    return None if name in SHARED or name == "__init__" else name


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_ui_module_over_500_lines():
    sizes = {str(p.relative_to(UI)): len(p.read_text().splitlines()) for p in UI.rglob("*.py")}
    assert len(sizes) > 20
    assert not {name: n for name, n in sizes.items() if n > MAX_LINES}


def test_no_panel_imports_another_panel():
    crossings = []
    modules = list(PANELS.rglob("*.py"))
    assert len(modules) > 10
    for path in modules:
        own = panel_of(path)
        for module in imported_modules(path):
            if not module.startswith("ferrite_tui.ui.panels."):
                continue
            other = module.split(".")[3]
            if other not in SHARED and other != own:
                crossings.append(f"{path.relative_to(UI)} imports {module}")
    assert not crossings


def test_panels_reach_the_server_only_through_their_session():
    """No panel walks app.monitor or calls redis itself: the session hands it the client."""
    offenders = []
    for path in PANELS.rglob("*.py"):
        text = path.read_text()
        for needle in ("app.monitor", ".redis.", "import redis", "time.time("):
            if needle in text:
                offenders.append(f"{path.relative_to(UI)}: {needle}")
    assert not offenders
