"""The WEBJS engine: whatsapp-web.js native events → WAHA's normalized events.

``plugin`` registers the engine; ``translator`` holds the mapping and the session state;
``messages``, ``acks``, ``presence``, ``groups``, ``polls``, ``calls_chats`` and ``status`` hold
the rules of ``docs/engine-mapping.md`` §6; ``native`` lists the accepted record types.
"""
