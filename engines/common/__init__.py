"""What WEBJS and NOWEB share: native records, bad-record handling, replay, WAHA helpers."""
