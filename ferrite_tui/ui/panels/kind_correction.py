"""Correcting a queue's kind (`o` on every panel's queue table): the operator's answer
saved as a `[[queues]]` entry in their config file and used by a rescan at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rich.text import Text

from ferrite_tui.backend.envelopes import printable
from ferrite_tui.backend.models import QueueKind, QueueRef
from ferrite_tui.config import ConfigError, default_config_path, save_queue
from ferrite_tui.ui.panels.outcome import NothingSelected, Outcome
from ferrite_tui.ui.screens.dialogs import Field

if TYPE_CHECKING:
    from ferrite_tui.ui.protocols import ConsoleApp
    from ferrite_tui.ui.session import Session


class KindCorrector(Protocol):
    """What the correction uses of the panel it runs on."""

    @property
    def ferrite(self) -> ConsoleApp: ...

    @property
    def session(self) -> Session: ...

    async def ask(self, title: str, fields: list[Field], submit_label: str = "OK",
                  body: str | Text | None = None) -> dict[str, str] | None: ...

KINDS = (*(k.value for k in QueueKind), "ignore")


def highlighted(ref: QueueRef | None) -> QueueRef:
    """The queue under the cursor of the panel's queue table, if it may be corrected."""
    if ref is None:
        raise NothingSelected("highlight a queue first")
    if ref.library is not None:
        raise NothingSelected(f"{ref.library.library}'s layout is read from the library's "
                              "keys: set its options in [libraries] instead")
    return ref


def entry_of(ref: QueueRef, values: dict[str, str]) -> dict[str, str | None]:
    """The [[queues]] entry for the answers: the unit only for delayed queues, the target
    only for dead letters."""
    kind = values["kind"].strip()
    unit = values.get("unit", "").strip() or None
    target = values.get("target", "").strip() or None
    return {"key": ref.key, "kind": kind,
            "score_unit": unit if kind == "delayed" and unit == "s" else None,
            "target_key": target if kind == "dlq" else None}


async def correct_kind(panel: KindCorrector, ref: QueueRef) -> Outcome | None:
    """The highlighted queue's kind as the operator gives it, saved as a [[queues]] entry
    in their config file (see config.save_queue) and used by a rescan at once."""
    cfg = panel.ferrite.config
    path = cfg.path or default_config_path()
    why = ref.evidence or ("declared in your config" if ref.declared else "by its name")
    values = await panel.ask(
        f"Kind of {printable(ref.key, 60)}",
        [Field("kind", f"kind ({', '.join(KINDS)})", ref.kind.value,
               check=lambda v: None if v.strip() in KINDS else f"one of {', '.join(KINDS)}"),
         Field("unit", "delayed: due times in (ms or s)", ref.score_unit or "ms",
               check=lambda v: None if v.strip() in ("ms", "s", "") else "ms or s"),
         Field("target", "dead letters: requeue to (a list; empty: none)",
               ref.target_key or "")],
        submit_label="Save",
        body=Text(f"Found as {ref.kind.label} ({printable(why, 120)}). Saved as a "
                  f"[[queues]] entry at the end of {printable(str(path), 120)}; the rest of "
                  "that file is kept as it is."))
    if values is None:
        return None
    entry = entry_of(ref, values)
    try:
        new = save_queue(cfg, entry)
    except (ConfigError, OSError) as exc:
        return Outcome(f"Not saved: {printable(str(exc), 200)}", severity="error")
    panel.ferrite.config = new
    if panel.session.monitor is not None:
        panel.session.monitor.use_config(new)
    return Outcome(f"{printable(ref.key, 60)} is now {entry['kind']}: saved to "
                   f"{printable(str(new.path), 120)}", timeout=6)
