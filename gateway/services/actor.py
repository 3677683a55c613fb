"""Who asks: an operator at the web UI or the panel, the cloud, or the gateway itself."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.permissions import KEYS
from gateway.services.errors import ServiceError


@dataclass(frozen=True, slots=True)
class Actor:
    operator_id: int | None
    name: str
    permissions: frozenset[str]
    channel: str = "web"  # web | panel | cloud | system

    def require(self, permission: str) -> None:
        if permission not in KEYS:
            raise ValueError(f"unknown permission {permission!r}")
        if permission not in self.permissions:
            raise ServiceError("E501", f"{self.name} lacks {permission}")


SYSTEM = Actor(None, "system", KEYS, "system")


def cloud_actor(name: str = "cloud") -> Actor:
    return Actor(None, name, KEYS, "cloud")
