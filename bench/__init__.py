"""hookwire's benchmark harness: ``python -m bench`` (see bench/README in RESULTS.md)."""
