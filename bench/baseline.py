"""Scenario 1, the limit: a bare aiohttp client loop POSTing the same envelopes to the same
receiver with the same concurrency, no store, no signing, no bookkeeping. Runs in its own
process (``python -m bench.baseline BODIES URL CONCURRENCY``), like the service does."""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def post_all(bodies: list[bytes], url: str, concurrency: int) -> None:
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            for body in queue:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> None:
    path, url, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as fh:
        bodies = [line.rstrip(b"\n") for line in fh if line.strip()]
    asyncio.run(post_all(bodies, url, concurrency))


if __name__ == "__main__":
    main()
