"""Run the pure-Python amqtt broker on 127.0.0.1:<port> (fallback when Mosquitto is absent)."""

from __future__ import annotations

import asyncio
import sys

from amqtt.broker import Broker


async def _serve(port: int) -> None:
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    await asyncio.Event().wait()


def main() -> None:
    asyncio.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
