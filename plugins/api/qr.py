"""The QR code of a session waiting for a scan, as a PNG (segno: a small pure-Python encoder)."""

from __future__ import annotations

import io

import segno


def qr_png(text: str, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="l", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
