"""Splitting a bridge's output into lines, with a bound on the length of one line.

A bridge writes one JSON record per line, but nothing stops a broken or hostile bridge from
writing gigabytes without a newline. :class:`LineSplitter` holds at most ``max_bytes`` of a
line: a longer line is reported as :class:`TooLong` (its first ``max_bytes`` bytes and its
full size) and the rest of it is skipped up to the next newline.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec


class TooLong(msgspec.Struct, frozen=True):
    """A line longer than the bound: its first ``max_bytes`` bytes and its full length."""

    head: bytes
    size: int


class LineSplitter:
    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skipping: TooLong | None = None  # the too-long line being skipped

    def feed(self, chunk: bytes) -> Iterator[bytes | TooLong]:
        """Lines (without their newline) completed by ``chunk``, in order."""
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if self._skipping is not None:
                self._skipping = TooLong(self._skipping.head, self._skipping.size + len(piece))
            elif len(self._buffer) + len(piece) > self.max_bytes:
                room = self.max_bytes - len(self._buffer)
                self._buffer.extend(piece[:room])
                self._skipping = TooLong(bytes(self._buffer), len(self._buffer) + len(piece) - room)
                self._buffer.clear()
            else:
                self._buffer.extend(piece)
            if end < 0:
                return
            yield from self._end_line()
            start = end + 1

    def close(self) -> Iterator[bytes | TooLong]:
        """What is left at end of stream: a last line without a newline, if any."""
        if self._buffer or self._skipping is not None:
            yield from self._end_line()

    def _end_line(self) -> Iterator[bytes | TooLong]:
        if self._skipping is not None:
            yield self._skipping
            self._skipping = None
        else:
            yield bytes(self._buffer)
            self._buffer.clear()

