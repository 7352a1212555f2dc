"""``call`` → ``call.*``; ``labels.edit`` / ``labels.association`` → ``label.*``.

Calls (WAHA ``toCallData``: ``{id, from, timestamp (s), isVideo, isGroup, _data}``), per item of
the ``call`` array: ``offer`` → ``call.received``; ``accept`` → ``call.accepted`` (the id is
remembered); ``reject``/``terminate`` → ``call.rejected``, except for a call accepted earlier
(``terminate`` forgets it), for items whose ``isGroup`` is missing (Baileys sends each reject
twice, once without it), and for repeats of the same call within 1 s. WAHA debounces those
repeats and so reports the *last* of a burst; a pure translator reports the first.
Other statuses (``ringing``, ``timeout``) give nothing.

Labels: ``labels.edit`` → ``label.upsert``, or ``label.deleted`` when ``deleted``
(``{id, name, color, colorHex}``); the labels seen are kept (bounded), so
``labels.association`` of a chat (``label_jid``) → ``label.chat.added`` / ``label.chat.deleted``
``{labelId, chatId, label}`` can name the label (``null`` when unknown). Message associations
give nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from msgspec import UNSET

from core.engine import Emission
from engines.common.records import BadRecord
from engines.noweb.content import cus
from engines.noweb.js_semantics import is_number, js_date_ms, js_truthy, ms_to_seconds
from engines.noweb.payloads import CallPayload, LabelChatAssociationPayload, LabelPayload
from engines.noweb.record_shapes import describe, need_object, need_str, present

#: WhatsApp's label colours, by colour number; a number past the end gives black.
LABEL_COLORS = (
    "#ff9485", "#64c4ff", "#ffd429", "#dfaef0", "#99b6c1", "#55ccb3", "#ff9dff", "#d3a91d",
    "#6d7cce", "#d7e752", "#00d0e2", "#ffc5c7", "#93ceac", "#f74848", "#00a0f2", "#83e422",
    "#ffaf04", "#b5ebff", "#9ba6ff", "#9368cf",
)
CHAT_ASSOCIATION = "label_jid"
REJECT_REPEAT_SECONDS = 1.0


class CallTracker:
    """Accepted calls (so their end is not a rejection) and recent rejections (bounded)."""

    def __init__(self, clock: Callable[[], float], max_calls: int = 10_000) -> None:
        self.clock = clock
        self.max_calls = max_calls
        self.accepted: OrderedDict[str, None] = OrderedDict()
        self.rejected_at: OrderedDict[str, float] = OrderedDict()

    def _bound(self, table: OrderedDict[str, Any]) -> None:
        while len(table) > self.max_calls:
            table.popitem(last=False)

    def map_call(self, item: Any, field: str) -> list[Emission]:
        call = need_object(item, field)
        call_id = need_str(call.get("id"), f"{field}.id")
        status = need_str(call.get("status"), f"{field}.status")
        payload = CallPayload(
            id=call_id,
            from_=cus(need_str(call.get("from"), f"{field}.from")),
            timestamp=ms_to_seconds(js_date_ms(call.get("date"), f"{field}.date")),
            isVideo=call.get("isVideo", UNSET), isGroup=call.get("isGroup", UNSET), data=call,
        )
        if status == "offer":
            return [Emission("call.received", payload)]
        if status == "accept":
            self.accepted[call_id] = None
            self._bound(self.accepted)
            return [Emission("call.accepted", payload)]
        if status not in ("reject", "terminate"):
            return []
        if call_id in self.accepted:
            if status == "terminate":
                del self.accepted[call_id]
            return []
        if not present(call.get("isGroup", UNSET)):
            return []
        now = self.clock()
        last = self.rejected_at.get(call_id)
        if last is not None and now - last < REJECT_REPEAT_SECONDS:
            return []
        self.rejected_at[call_id] = now
        self.rejected_at.move_to_end(call_id)
        self._bound(self.rejected_at)
        return [Emission("call.rejected", payload)]


def label_payload(label: dict[str, Any], field: str) -> LabelPayload:
    color = label.get("color", UNSET)
    if present(color) and not is_number(color):
        raise BadRecord(f"{field}.color: expected a number, got {describe(color)}")
    color_hex: Any = UNSET
    if is_number(color):
        if color >= len(LABEL_COLORS):
            color_hex = "#000000"
        elif color >= 0 and float(color).is_integer():
            color_hex = LABEL_COLORS[int(color)]
    return LabelPayload(id=label.get("id", UNSET), name=label.get("name", UNSET), color=color,
                        colorHex=color_hex)


class LabelStore:
    def __init__(self, max_labels: int = 10_000) -> None:
        self.max_labels = max_labels
        self._labels: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, label_id: Any) -> dict[str, Any] | None:
        return self._labels.get(label_id) if isinstance(label_id, str) else None

    def map_edit(self, data: Any) -> list[Emission]:
        label = need_object(data, "data")
        label_id = need_str(label.get("id"), "data.id")
        payload = label_payload(label, "data")
        if js_truthy(label.get("deleted")):
            self._labels.pop(label_id, None)
            return [Emission("label.deleted", payload)]
        self._labels[label_id] = label
        self._labels.move_to_end(label_id)
        while len(self._labels) > self.max_labels:
            self._labels.popitem(last=False)
        return [Emission("label.upsert", payload)]

    def map_association(self, data: Any) -> list[Emission]:
        event = need_object(data, "data")
        association = need_object(event.get("association"), "data.association")
        action = event.get("type")
        if association.get("type") != CHAT_ASSOCIATION or action not in ("add", "remove"):
            return []
        label_id = need_str(association.get("labelId"), "data.association.labelId")
        chat = cus(need_str(association.get("chatId"), "data.association.chatId"))
        stored = self.get(label_id)
        payload = LabelChatAssociationPayload(
            labelId=label_id, chatId=chat,
            label=label_payload(stored, "label") if stored is not None else None)
        name = "label.chat.added" if action == "add" else "label.chat.deleted"
        return [Emission(name, payload)]
