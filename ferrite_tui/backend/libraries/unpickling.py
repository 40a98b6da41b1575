"""The opt-in pickle decoder's limits: the only classes it builds and the largest pickle it
reads. Both the item decoder (items.py) and arq's result reader use them; this module
imports nothing of the backend, so the library modules can."""

from __future__ import annotations

import io
import pickle
from typing import Any

#: The only classes the opt-in decoder builds: values and containers, no behaviour.
SAFE_CLASSES = {
    ("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "str",
                                    "bytes", "bytearray", "int", "float", "complex", "bool",
                                    "NoneType", "slice", "range")
} | {("collections", "OrderedDict"), ("collections", "deque"),
     ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
     ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal")}
MAX_UNPICKLE = 1 << 20  # larger pickles are only summarised


class RestrictedUnpickler(pickle.Unpickler):
    """Builds builtin values and containers only: `find_class` refuses everything else,
    so no constructor, reducer or import of the pickle's choosing ever runs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CLASSES:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a plain value")


def restricted_loads(raw: bytes) -> Any:
    if len(raw) > MAX_UNPICKLE:
        raise pickle.UnpicklingError(f"larger than {MAX_UNPICKLE:,} bytes")
    return RestrictedUnpickler(io.BytesIO(raw)).load()
