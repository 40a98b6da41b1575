"""Keys typed in a burst go where the operator aimed them.

Over SSH, keys arrive in bursts: `n` and the text meant for the dialog it opens come in one
read. Textual hands each key to the focused widget's queue at once, and the action bound to
`n` runs only when that key has bubbled back to the app; the dialog it opens is pushed by a
worker and mounted later still. So, unchecked, the text lands in the table below the dialog,
or half of it does.

The rule here: keys are handed on one at a time, each once the one before has been handled
(stopped by a widget, or bubbled to the app and its binding run), and not while
- the screen on top has not finished mounting (its first input is not focused yet), or
- the screen on top has not been drawn since it came on top (a dialog typed into blind:
  on a loaded machine its frame came late, or was dropped, while the keys went to it), or
- a worker started by an earlier key is still running and has not shown a screen of its
  own (it is about to, or it is doing the work the operator asked for).
Held keys are handed on in the order typed as soon as nothing holds them. Keys that leave
the program (ctrl+c, ctrl+q) are never held.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial

from textual import events, messages
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Button, Input, TabbedContent, Tabs, TextArea
from textual.worker import Worker, WorkerState

from ferrite_tui.ui.textual_private import (
    propagation_stopped,
    queued_messages,
    screen_callbacks_pending,
)

TEXT_ENTRY = (Input, TextArea)
# Messages whose handlers decide where the next key goes.
ROUTING = (Input.Submitted, Button.Pressed, events.Focus, events.Blur, events.DescendantFocus,
           events.DescendantBlur, events.Callback, messages.InvokeLater, Tabs.TabActivated,
           TabbedContent.TabActivated)
CALLBACKS = (events.Callback, messages.InvokeLater)
# Workers that run beside the operator rather than for the key that started them (the poll,
# a dead-letter list's full scan for its groups): keys never wait for these.
BACKGROUND_GROUPS = frozenset({"poll", "dlq-scan"})
NEVER_HELD = frozenset({"ctrl+c", "ctrl+q"})
# A worker that runs this long without showing a screen is doing slow work (a big bulk
# action on a slow server): keys then go to the screen rather than wait without end.
MAX_HOLD_S = 15.0
MAX_FOCUS_WAIT_S = 1.0
CHECK_EVERY_S = 0.02
# A screen on top and not drawn this long is drawn again whole: a frame Textual computes
# while an update batch is open is thrown away, and a dialog that changes nothing after it
# would otherwise stay undrawn (the last frame on the terminal, the dialog taking keys).
REPAINT_AFTER_S = 0.25


class KeyHold:
    def __init__(self, app, forward: Callable[[events.Key], Awaitable[None]]) -> None:
        self.app = app
        self.forward = forward  # the app's own key handling: priority bindings, then focus
        self.held: list[events.Key] = []
        self.in_flight: events.Key | None = None
        # Workers started by a key, with the screen that key was typed on.
        self.watched: list[tuple[Worker, Screen]] = []
        self.since: float | None = None
        self._timer = None
        self._pumping = False
        self.unsettled = False
        # The screen on top when a frame of it last reached the terminal, with the number of
        # times it had come on top then (a screen shown again needs a frame of its own).
        self._drawn: tuple[Screen | None, int] = (None, -1)
        self._repaint_timer = None
        # Told of every key typed (the garbage collector waits for it: ui/quiet.py).
        self.key_listeners: list[Callable[[], None]] = []

    # -- frames -----------------------------------------------------------------------------

    def frame_shown(self, screen: Screen, whole: bool) -> None:
        """The app wrote a frame of `screen` (or, headless, would have); `whole`: all of it,
        not only the parts that changed (after a whole frame lost, those are not enough)."""
        if not whole:
            return
        self._drawn = (screen, screen.stack_updates)
        if self.held and screen is self.app.screen:
            self.app.call_later(self._pump)

    def drawn(self, screen: Screen) -> bool:
        return self._drawn[0] is screen and self._drawn[1] == screen.stack_updates

    def screen_changed(self, screen: Screen) -> None:
        """A screen came on top: make sure it gets drawn."""
        if self._repaint_timer is None:
            self._repaint_timer = self.app.set_interval(REPAINT_AFTER_S, self._repaint)

    def _repaint(self) -> None:
        if not self.app.screen_stack:
            return
        screen = self.app.screen
        if self.drawn(screen):
            if self._repaint_timer is not None:
                self._repaint_timer.stop()
                self._repaint_timer = None
            return
        if screen.is_mounted:
            screen.refresh()  # the whole screen: what a lost frame should have shown

    # -- the app calls these --------------------------------------------------------------

    async def key_typed(self, event: events.Key) -> None:
        """A key from the terminal."""
        if (keys := split_escape(event)) is not None:
            # `escape 1` typed quickly put "¡" in the filter and left the panel as it was.
            for key in keys:
                await self.key_typed(key)
            return
        for listener in self.key_listeners:
            listener()
        if event.key in NEVER_HELD:
            await self.forward(event)
            return
        self.held.append(event)
        await self._pump()

    async def key_bubbled(self, event: events.Key, handle: Callable[[], Awaitable[None]]) -> None:
        """A key back at the app after its widgets: its bindings run now (in `handle`)."""
        if event is not self.in_flight or not self.app.screen_stack:
            await handle()
            return
        await self._run_tracked(handle, self.app.screen)
        self._done()
        self.unsettled = True  # its binding ran: wait for what it set in motion
        # After what the binding scheduled (a focus() lands on the next turn of the loop).
        self.app.call_later(self._pump)

    def key_pending(self) -> bool:
        """Whether a typed key has not yet done what it asked for: not handed on, in
        flight, still queued at the app, or a worker it started (about to show a dialog)
        still running on the screen it was typed on."""
        if self.held or self.in_flight is not None:
            return True
        if not self.app.screen_stack:
            return False
        if any(isinstance(m, events.Key) for m in queued_messages(self.app)):
            return True
        return any(s is self.app.screen for _, s in self._still_running())

    def waiting(self) -> bool:
        """A key pending, or a screen a key opened not drawn yet. Work that can wait
        (applying a poll, a full garbage collection) waits for this: on a busy machine it
        stood between a key and its dialog."""
        if self.key_pending():
            return True
        stack = self.app.screen_stack
        return bool(stack) and stack[-1] is not stack[0] and not self.drawn(stack[-1])

    # -- internals ------------------------------------------------------------------------

    def _still_running(self) -> list[tuple[Worker, Screen]]:
        self.watched = [(w, s) for w, s in self.watched
                        if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        return self.watched

    def holding(self) -> float:
        """How long keys may be held for what holds them now (0: nothing does)."""
        if self.in_flight is not None:
            return MAX_HOLD_S
        screen = self.app.screen
        if not screen.is_mounted or not self.drawn(screen):
            return MAX_HOLD_S
        if self.unsettled and not self._settled(screen):
            # The last key's consequences (a Submitted message, a focus change after the
            # next refresh) are still on their way: the next key must see their result.
            return MAX_FOCUS_WAIT_S
        self.unsettled = False
        if (screen.focused is None and screen.focus_chain
                and screen is not self.app.screen_stack[0]):
            # A dialog about to focus its first input. (The main screen's focus after a
            # panel switch is a pending callback: `_settled` waits for that.)
            return MAX_FOCUS_WAIT_S
        if any(s is screen for _, s in self._still_running()):
            return MAX_HOLD_S
        return 0.0

    def _settled(self, screen: Screen) -> bool:
        """Nothing is on its way that could move the focus or change the screen: no
        Submitted/Pressed/focus message waits at the focused widget or its containers (it
        bubbles up to a handler that may move focus), no callback waits at the screen or
        the app (a focus() or a push), and no screen callback waits for the next refresh
        (the focus after a tab switch). Other traffic (a scan's progress, a live log)
        does not count: it can be as busy as it likes."""
        if screen_callbacks_pending(screen):
            return False
        if screen.focused is None:
            # Between panels (a switch drops focus until the new panel's table takes it):
            # the tab messages travel through widgets no focus chain leads to.
            nodes: list[DOMNode] = list(screen.walk_children(with_self=False))
        else:
            nodes = list(screen.focused.ancestors_with_self)
        if any(isinstance(m, ROUTING) for node in nodes for m in queued_messages(node)):
            return False
        return not any(isinstance(m, CALLBACKS) for pump in (screen, self.app)
                       for m in queued_messages(pump))

    async def _run_tracked(self, handle: Callable[[], Awaitable[None]], screen: Screen) -> None:
        before = set(self.app.workers)
        await handle()
        self.watched.extend((w, screen) for w in self.app.workers
                            if w not in before and w.group not in BACKGROUND_GROUPS)

    def _finish(self, event: events.Key) -> None:
        if self.in_flight is event:
            self._done()
            self.app.call_later(self._pump)

    def _done(self) -> None:
        self.in_flight = None
        self.since = None

    async def _pump(self) -> None:
        if self._pumping or not self.app.screen_stack:  # no screen: the app is closing
            return
        self._pumping = True
        try:
            while self.held:
                limit = self.holding()
                if limit and not self._waited(limit):
                    break
                if limit:  # held too long: whatever it waits for is not coming soon
                    self.watched.clear()
                event = self.held.pop(0)
                self.since = time.monotonic()
                target = self.app.focused or self.app.screen
                if event.is_printable and isinstance(target, TEXT_ENTRY):
                    # Text into a field moves neither focus nor screen: no need to wait for
                    # it, and the field's queue keeps the order.
                    await self.forward(event)
                    self._done()
                    continue
                await self._run_tracked(partial(self.forward, event), self.app.screen)
                if event.is_forwarded:
                    # Handed to a widget: done when stopped there or when back at the app.
                    self.in_flight = event
                    target.call_later(self._stopped_at, target)
                else:
                    self._done()  # a priority binding took it
        finally:
            self._pumping = False
        if not self.held and self.in_flight is None:
            self.since = None
        self._arm(bool(self.held or self.in_flight))

    def _waited(self, limit: float) -> bool:
        return self.since is not None and time.monotonic() - self.since > limit

    def _arm(self, needed: bool) -> None:
        if needed and self.since is None:
            self.since = time.monotonic()
        if needed and self._timer is None:
            self._timer = self.app.set_interval(CHECK_EVERY_S, self._check)
        elif not needed and self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _stopped_at(self, target) -> None:
        """Runs on `target`'s queue right after it handled the key in flight: stopped here
        means handled here (a later stop can only come from the hop to the app)."""
        event = self.in_flight
        if event is not None and propagation_stopped(event) and target is not self.app.screen:
            self._done()
            self.app.call_later(self._pump)
        else:
            self._check()

    def _check(self) -> None:
        event = self.in_flight
        if event is not None and propagation_stopped(event):
            # Stopped by a widget, or on its last hop to the app (Textual stops a message
            # that returns to its sender). The app's queue tells which: it runs this after
            # the key if the key is in it.
            self.app.call_later(self._finish, event)
        elif event is not None and self._waited(MAX_HOLD_S):
            self._done()  # lost on the way (its widget went away): do not wait for it
        if self.held and self.in_flight is None:
            self.app.call_later(self._pump)
        elif not self.held and self.in_flight is None:
            self._arm(False)  # nothing to wait for: no timer while idle


# Textual reads Escape then a digit, arriving together, as the macOS Option+digit character
# (its ANSI table: ESC 1 is "¡"): the console's panel keys typed right after Escape.
OPTION_DIGITS = {"¡": "1", "™": "2", "£": "3", "¢": "4", "∞": "5", "§": "6", "¶": "7", "•": "8",
                 "ª": "9", "º": "0"}


def split_escape(event: events.Key) -> tuple[events.Key, events.Key] | None:
    """Escape and the key typed right after it, where the terminal's parser read the two as
    one key (Alt+key, or an Option+digit character); None for any other key. The console
    binds no Alt or Option key, so these are always two keys (a "¡" typed on purpose is
    taken for Escape 1: the rarer loss)."""
    if event.key.startswith("alt+"):
        name = event.key.removeprefix("alt+")
        if name.startswith("shift+") and len(name) == len("shift+") + 1:
            name = name[-1].upper()  # Textual names an upper-case letter by itself
        character = name if len(name) == 1 else None
    elif event.character in OPTION_DIGITS and event.character is not None:
        name = character = OPTION_DIGITS[event.character]
    else:
        return None
    return events.Key("escape", "\x1b"), events.Key(name, character)
