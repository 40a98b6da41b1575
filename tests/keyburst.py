"""Keys as they arrive over a slow SSH link: many at once, before the app has reacted.

Pilot's `press` waits for the app to go idle after every key, which hides every race between
a key that opens a dialog and the keys typed after it. `burst` hands all keys to the driver
in one go, as a terminal delivers a burst of input.
"""

from __future__ import annotations

import unicodedata

from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key


def typed(text: str) -> list[str]:
    """Literal text as single-character keys."""
    return list(text)


def key_event(key: str) -> events.Key:
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    original = REPLACED_KEYS.get(key, key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


def burst(app, *keys: str | list[str]) -> None:
    """Send every key at once (lists are flattened: `burst(app, "n", *typed("abc"))`)."""
    flat: list[str] = []
    for k in keys:
        flat.extend(k if isinstance(k, list) else [k])
    for key in flat:
        event = key_event(key)
        event.set_sender(app)
        app._driver.send_message(event)
