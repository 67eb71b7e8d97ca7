"""What a listener's process takes, while receiving."""

from __future__ import annotations

import asyncio

import aiohttp


async def post_many(url: str, bodies: list[bytes]) -> list[tuple[int, int | None]]:
    """POST every body at once; (status, X-Whrelay-Id) for each, in order."""
    async with aiohttp.ClientSession() as session:

        async def one(body: bytes) -> tuple[int, int | None]:
            async with session.post(url + "hook", data=body) as response:
                await response.read()
                webhook_id = response.headers.get("X-Whrelay-Id")
                if response.status == 503:
                    assert response.headers.get("Retry-After")
                return response.status, None if webhook_id is None else int(webhook_id)

        return await asyncio.gather(*(one(body) for body in bodies))
