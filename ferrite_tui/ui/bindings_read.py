"""One read of the bindings: the footer (and the command palette) ask every binding of a
panel at once whether it is offered (`check_action`) and with which word (`key_label`),
and each answer depends on the queue selected. Within a read that queue is found once
(`once_per_read`); outside one (a key press, an action) it is found afresh each time, so
no answer is ever older than the read it belongs to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

#: (node id, what) -> the answer found in the current read; None: not in a read
_READ: ContextVar[dict[tuple[int, str], object] | None] = ContextVar("bindings_read",
                                                                      default=None)


@contextmanager
def reading_bindings() -> Iterator[None]:
    """Answers computed by `once_per_read` are kept until the block ends (nested reads
    share the outer one's)."""
    if _READ.get() is not None:
        yield
        return
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def once_per_read(node: object, what: str, compute: Callable[[], T]) -> T:
    """`compute()`, once per read of the bindings for this node (every call outside one)."""
    memo = _READ.get()
    if memo is None:
        return compute()
    key = (id(node), what)
    if key not in memo:
        memo[key] = compute()
    return memo[key]  # type: ignore[return-value]
