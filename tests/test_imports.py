"""backend/ and config.py stay free of Textual: they must run (and be tested) alone."""

import pkgutil
import subprocess
import sys

import ferrite_tui.backend


def backend_modules() -> list[str]:
    """Every module under backend/, its sub-packages' too (backend/libraries/...)."""
    return sorted(m.name for m in pkgutil.walk_packages(ferrite_tui.backend.__path__,
                                                         prefix="ferrite_tui.backend."))


def test_backend_and_config_import_no_textual():
    modules = [*backend_modules(), "ferrite_tui.config", "ferrite_tui.formatting"]
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
