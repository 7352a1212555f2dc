"""Which webhooks an event goes to, and from which event a change of them applies.

Webhooks from the config file and the environment (*static*) apply for the whole run. Webhooks
set over the API (:meth:`plugins.webhook.sink.WebhookSink.set_session_webhooks`) replace, per
session, the ones that apply only to that session. A change applies from the next event
*published* to the sink: the events the bus had already handed to the sink's subscription when
the change was made (buffered in the stream, or held by a publisher waiting for room, or taken
by the intake and not yet persisted) keep the webhooks that were in force when they were
published. The intake numbers the events it takes from the subscription (positions 0, 1, …,
in stream order, which is publish order); a change records the position of the first event it
applies to, the events taken so far plus the subscription's backlog, and is put in force when
the intake reaches that position. Nothing is lost or misrouted in the switch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable
from typing import NamedTuple

import msgspec

from core.bus import matches
from core.events import Envelope
from plugins.webhook.config import WebhookConfig
from plugins.webhook.matching import wants


class _Change(NamedTuple):
    #: The first event (intake position) the change applies to.
    position: int
    session: str
    hooks: tuple[WebhookConfig, ...]


class HookRouting:
    def __init__(self, static: Iterable[WebhookConfig]) -> None:
        #: Config-file and env webhooks (and the demo receiver): never changed at runtime.
        self.static = list(static)
        #: Per session, the webhooks set over the API that apply to the next event matched.
        self._in_force: dict[str, tuple[WebhookConfig, ...]] = {}
        #: Changes made whose first event has not been matched yet, oldest first.
        self._pending: deque[_Change] = deque()
        #: Per session, what the last change set: what events published from now on get.
        self.latest: dict[str, tuple[WebhookConfig, ...]] = {}
        #: Events taken from the subscription so far (the next one's position).
        self.taken = 0
        #: Every event before this position is matched and its deliveries are stored.
        self.persisted = 0
        #: Changes made while events published before them were still on their way (stats).
        self.changes_with_backlog = 0

    # -- changes ---------------------------------------------------------------------------------

    def change(self, session: str, hooks: Iterable[WebhookConfig], backlog: int) -> None:
        """Set ``session``'s webhooks from the next event published on; ``backlog``: events
        the subscription holds (or is about to receive from waiting publishers) right now."""
        hooks = tuple(hooks)
        if backlog:
            self.changes_with_backlog += 1
        self._pending.append(_Change(self.taken + backlog, session, hooks))
        if hooks:
            self.latest[session] = hooks
        else:
            self.latest.pop(session, None)
        self._apply_until(self.persisted)

    def _apply_until(self, position: int) -> None:
        while self._pending and self._pending[0].position <= position:
            change = self._pending.popleft()
            if change.hooks:
                self._in_force[change.session] = change.hooks
            else:
                self._in_force.pop(change.session, None)

    # -- intake ----------------------------------------------------------------------------------

    def take(self, count: int) -> int:
        """Number ``count`` events just taken from the subscription; returns the first position."""
        first = self.taken
        self.taken += count
        return first

    def matching(self, position: int, event: Envelope) -> list[WebhookConfig]:
        """The webhooks that want the event at intake ``position``."""
        self._apply_until(position)
        hooks = [hook for hook in self.static if wants(hook, event)]
        for hook in self._in_force.get(event.session, ()):
            if matches(hook.events, event.name):
                hooks.append(hook)
        return hooks

    def mark_persisted(self, position: int) -> None:
        """Every event before ``position`` is matched and stored: later ones can only get the
        changes made up to there."""
        self.persisted = max(self.persisted, position)
        self._apply_until(self.persisted)

    @property
    def settled(self) -> bool:
        """Every change made is in force (none waits for its first event)."""
        return not self._pending

    def restart(self) -> None:
        """The intake starts again (a sink restart): events taken and not stored are gone."""
        self.mark_persisted(self.taken)

    # -- what is in use --------------------------------------------------------------------------

    def hooks_in_use(self) -> dict[str, WebhookConfig]:
        """Every webhook an event can still be matched with, by endpoint key (the newest
        config of a key wins): static ones, the ones in force, the ones of pending changes."""
        found = {hook.key: hook for hook in self.static}
        for hooks in self._in_force.values():
            found.update((hook.key, hook) for hook in hooks)
        for change in self._pending:
            found.update((hook.key, hook) for hook in change.hooks)
        return found

    def needed_events(self) -> frozenset[str]:
        """The event names the subscription must let through from now on."""
        names: set[str] = set()
        for hook in self.static:
            names.update(hook.events)
        for hooks in self.latest.values():
            for hook in hooks:
                names.update(hook.events)
        return frozenset(names)


def scoped_to_session(session: str, hooks: Iterable[WebhookConfig],
                      static_keys: Collection[str]) -> list[WebhookConfig]:
    """Webhooks set over the API for ``session``: untrusted (``origin = "api"``, whatever the
    caller set) and applying to that session only. ValueError when two share an endpoint key,
    or one takes the key of a config-file or env webhook."""
    scoped: list[WebhookConfig] = []
    keys: set[str] = set()
    for index, hook in enumerate(hooks):
        hook = msgspec.structs.replace(hook, origin="api", sessions=[session])
        if hook.key in keys:
            raise ValueError(f"webhooks[{index}]: two webhooks of session {session!r} share the "
                             f"endpoint {hook.key!r}; give each a distinct `name`")
        if hook.key in static_keys:
            raise ValueError(f"webhooks[{index}]: the endpoint {hook.key!r} belongs to a webhook "
                             "of the config file; give this one another `name`")
        keys.add(hook.key)
        scoped.append(hook)
    return scoped
