"""The entry-point module: it fails on import, like a plugin whose dependency is missing."""

raise RuntimeError("hookwire-broken-plugin fails on import (on purpose)")
