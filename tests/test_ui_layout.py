"""The UI's architecture, checked rather than described: small modules, panels that share
through bases and widgets (never through another panel), panels that reach the server
only through their session."""

from __future__ import annotations

import ast
from pathlib import Path

import ferrite_tui

UI = Path(ferrite_tui.__file__).parent / "ui"
PANELS = UI / "panels"
SHARED = {"base", "list_base", "sorted_base", "outcome", "kind_correction"}  # bases every panel
# may build on
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


def test_no_ui_module_imports_the_app():
    """The UI's parts see the app through ui/protocols.py: no module under ui/ imports
    ui/app.py (not even for typing), so there is no import cycle through the app; the
    console's entry points (cli, the demo's screenshots) start it."""
    offenders = []
    modules = [p for p in UI.rglob("*.py") if p != UI / "app.py"]
    assert len(modules) > 30
    for path in modules:
        if "ferrite_tui.ui.app" in imported_modules(path):
            offenders.append(str(path.relative_to(UI)))
    assert not offenders, f"these import ferrite_tui.ui.app: {offenders}"


def test_every_panel_meets_the_panel_protocol():
    """The app drives every tab's panel, the Server's too, through `PanelView` alone."""
    from ferrite_tui.ui.protocols import PanelView
    from ferrite_tui.ui.tabs import PANELS, LazyPanel

    wanted = [name for name in dir(PanelView) if not name.startswith("_")]
    assert {"update_snapshot", "show_latest", "set_filter", "set_capabilities",
            "focus_ident", "select_group", "TITLE"} <= set(wanted) | set(
        PanelView.__annotations__)
    classes = [entry.load() for _, _, entry in PANELS if isinstance(entry, LazyPanel)]
    assert len(classes) == len(PANELS)
    missing = [f"{cls.__name__}.{name}" for cls in classes
               for name in [*wanted, *PanelView.__annotations__] if not hasattr(cls, name)
               and name not in ("display",)]
    assert not missing, missing
    # A tab's title is its panel's, known before the panel's module is loaded.
    assert [entry.TITLE for _, _, entry in PANELS] == [cls.TITLE for cls in classes]


def test_the_first_screen_loads_no_other_panel():
    """Start-up (issue 25): the console's modules, as they load before its first screen,
    bring no panel but the Overview, no palette commands and no charting library."""
    import subprocess
    import sys

    code = ("import sys, ferrite_tui.cli.command, ferrite_tui.ui.app\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    panels = {m for m in loaded if m.startswith("ferrite_tui.ui.panels.")}
    assert panels <= {"ferrite_tui.ui.panels.base", "ferrite_tui.ui.panels.overview"}, panels
    for late in ("ferrite_tui.ui.commands", "ferrite_tui.cli.status", "ferrite_tui.cli.demo",
                 "plotext", "textual_plotext"):
        assert late not in loaded, late


def module_name(path: Path) -> str:
    rel = path.relative_to(UI.parent.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
    return ".".join(parts)


def test_no_import_cycle_among_ui_modules():
    """Every import counts, typing-only and inside functions too: a cycle is a cycle."""
    modules = {module_name(p): p for p in UI.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    # A package's __init__ re-exports its modules: importing the package is importing them.
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            mod, trail = stack.pop()
            for dep in graph[mod]:
                if dep == start:
                    cycles.append(" -> ".join([*trail, dep]))
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, [*trail, dep]))
    assert not cycles, "\n".join(sorted(cycles)[:10])


def self_assignments(func: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) \
                        and t.value.id == "self":
                    names.add(t.attr)
    return names


def test_every_attribute_is_set_in_init():
    """No attribute created on first use (read elsewhere through getattr defaults): what a
    method assigns on self is set in __init__ (its class's or a base's), or is a class
    attribute (a reactive, a property, Textual's own)."""
    import importlib

    late = []
    for path in UI.rglob("*.py"):
        module = None
        for cls in [n for n in ast.walk(ast.parse(path.read_text()))
                    if isinstance(n, ast.ClassDef)]:
            methods = [m for m in cls.body if isinstance(m, (ast.FunctionDef,
                                                              ast.AsyncFunctionDef))]
            assigned = {name for m in methods if m.name != "__init__"
                        for name in self_assignments(m)}
            if not assigned:
                continue
            module = module or importlib.import_module(module_name(path))
            obj = getattr(module, cls.name)
            in_init = set()
            for klass in obj.__mro__:
                init = klass.__dict__.get("__init__")
                source = getattr(init, "__code__", None)
                if source is not None and source.co_filename.startswith(str(UI)):
                    tree = ast.parse(Path(source.co_filename).read_text())
                    in_init |= {name for node in ast.walk(tree)
                                if isinstance(node, ast.FunctionDef)
                                and node.name == "__init__"
                                and node.lineno == source.co_firstlineno
                                for name in self_assignments(node)}
            late += [f"{path.relative_to(UI)}: {cls.name}.{name}" for name in sorted(assigned)
                     if name not in in_init and not hasattr(obj, name)]
    assert not late, late
