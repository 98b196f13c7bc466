"""A real redis-py connection that counts its socket writes, per server port: round trips, observed."""

from __future__ import annotations

from typing import Any, ClassVar

import redis

__all__ = ["CountingConnection"]


class CountingConnection(redis.Connection):
    """Counts every ``send_packed_command`` (one write to the socket) by server port; reset with ``sends.clear()``."""

    sends: ClassVar[dict[int, int]] = {}

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends[self.port] = CountingConnection.sends.get(self.port, 0) + 1
        super().send_packed_command(command, check_health)
