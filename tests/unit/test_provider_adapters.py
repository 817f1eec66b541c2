"""Adapters: a provider changed while a send holds its adapter gets a new adapter,
and the old one is closed only once that send is done."""

from __future__ import annotations

import asyncio
from typing import Any

from tidings.providers.adapters import Adapters, Key, Provider, Services
from tidings.providers.base import Sent


class HeldAdapter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.release = asyncio.Event()

    async def send(self, delivery_id: str, message: Any) -> Sent:
        await self.release.wait()
        assert not self.closed, "sent through a closed adapter"
        return Sent(f"{self.name}-{delivery_id}")

    async def close(self) -> None:
        self.closed = True


def _adapters(wanted: dict[Key, Provider], built: list[HeldAdapter]) -> Adapters:
    def read(fn: Any, keys: set[Key]) -> dict[Key, Provider]:
        return {key: wanted[key] for key in keys}

    def factory(config: dict[str, Any], workspace_id: int, channel: str, _: Any) -> HeldAdapter:
        built.append(HeldAdapter(config["name"]))
        return built[-1]

    services = Services(write=lambda *a: None, clock=None)
    return Adapters(read, services, factories={"held": factory})


def test_a_replaced_adapter_is_closed_after_the_send_that_holds_it() -> None:
    async def scenario() -> None:
        key = (1, "email")
        wanted = {key: Provider("held", {"name": "old"}, 1)}
        built: list[HeldAdapter] = []
        adapters = _adapters(wanted, built)

        async def send() -> Any:
            async with adapters.using(*key) as adapter:
                return await adapter.send("d1", None)

        in_flight = asyncio.create_task(send())
        async with asyncio.timeout(10):  # the send holds the first adapter built
            while not built:
                await asyncio.sleep(0.001)
        old = built[0]

        wanted[key] = Provider("held", {"name": "new"}, 2)  # `tidings apply` changed it
        await adapters.refresh([key])
        async with adapters.using(*key) as adapter:
            assert adapter is not old
        assert not old.closed  # a send still holds it

        old.release.set()
        assert (await in_flight).provider_message_id == "old-d1"
        assert old.closed
        assert not built[1].closed

    asyncio.run(scenario())


def test_an_unused_replaced_adapter_is_closed_at_once() -> None:
    async def scenario() -> None:
        key = (1, "email")
        wanted = {key: Provider("held", {"name": "old"}, 1)}
        built: list[HeldAdapter] = []
        adapters = _adapters(wanted, built)
        async with adapters.using(*key):
            pass
        wanted[key] = Provider("held", {"name": "new"}, 2)
        await adapters.refresh([key])
        async with adapters.using(*key):
            assert built[0].closed

    asyncio.run(scenario())
