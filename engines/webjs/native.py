"""The native WEBJS record types and the shape of their ``data`` (mapping doc §1.1).

Known types are whatsapp-web.js 1.34's ``Client`` events (``src/util/Constants.js``
``Events``) plus WAHA's binary-node events ``tag:receipt``, ``tag:presence`` and
``tag:chatstate``. Any other ``type`` is bad input (§3).

``data`` follows the listener-argument convention: one argument is the value itself, two or
more are a JSON array, none is ``null``. A ``data`` that is missing or ``null`` where the
listener gets an argument is bad input; so is an array of the wrong length.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from msgspec import UNSET

from engines.common.records import BadRecord
from engines.webjs.jsvalues import type_name


class DataShape(NamedTuple):
    #: ``one``: a single non-null argument; ``args``: an array of ``min``..``max`` arguments;
    #: ``none``: no argument (``data`` null or missing); ``optional``: one argument that may
    #: be ``undefined`` (``authenticated`` gets the auth strategy's payload, often none).
    kind: Literal["one", "args", "none", "optional"]
    min: int = 1
    max: int = 1
    #: ``string`` when the single argument must be a string.
    scalar: Literal["string", "any"] = "any"


ONE = DataShape("one")
STRING = DataShape("one", scalar="string")
NONE = DataShape("none")
OPTIONAL = DataShape("optional")


def args(minimum: int, maximum: int) -> DataShape:
    return DataShape("args", minimum, maximum)


#: Every native type this engine accepts, with its ``data`` shape.
NATIVE_EVENTS: dict[str, DataShape] = {
    "authenticated": OPTIONAL,
    "auth_failure": ONE,
    "ready": NONE,
    "chat_removed": ONE,
    "chat_archived": args(2, 3),
    "message": ONE,
    "message_ciphertext": ONE,
    "message_create": ONE,
    "message_revoke_everyone": args(1, 2),
    "message_revoke_me": ONE,
    "message_ack": args(2, 2),
    "message_edit": args(2, 3),
    "unread_count": ONE,
    "message_reaction": ONE,
    "media_uploaded": ONE,
    "contact_changed": args(3, 4),
    "group_join": ONE,
    "group_leave": ONE,
    "group_admin_changed": ONE,
    "group_membership_request": ONE,
    "group_update": ONE,
    "qr": STRING,
    "code": STRING,
    "loading_screen": args(1, 2),
    "disconnected": STRING,
    "change_state": STRING,
    "change_battery": ONE,
    "call": ONE,
    "remote_session_saved": NONE,
    "vote_update": ONE,
    "tag:receipt": ONE,
    "tag:presence": ONE,
    "tag:chatstate": ONE,
}


def check_data(record_type: str, data: Any) -> Any:
    """``data`` as the mapper reads it (an array for ``args`` shapes); bad input otherwise."""
    shape = NATIVE_EVENTS.get(record_type)
    if shape is None:
        raise BadRecord(f"unknown WEBJS event type {record_type!r}")
    if shape.kind in ("none", "optional"):
        return data
    if data is UNSET:
        raise BadRecord("data is missing")
    if data is None:
        raise BadRecord("data is null")
    if shape.kind == "args":
        count = str(shape.min) if shape.min == shape.max else f"{shape.min} to {shape.max}"
        if not isinstance(data, list):
            raise BadRecord(f"data must be the array of the listener's {count} arguments, "
                            f"got {type_name(data)}")
        if not shape.min <= len(data) <= shape.max:
            raise BadRecord(f"data must hold {count} arguments, got {len(data)}")
    elif shape.scalar == "string" and not isinstance(data, str):
        raise BadRecord(f"data must be a string, got {type_name(data)}")
    return data
