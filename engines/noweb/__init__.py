"""The NOWEB engine: Baileys events → WAHA events (``engine-mapping.md`` §7)."""
