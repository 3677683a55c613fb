"""Buses to the meters: serial lines, TCP serial servers and DTUs dialling in.

One request in flight per bus, by priority; every frame passes the bus's trace hooks.
"""

from gateway.link.bus import Bus, BusStats
from gateway.link.config import BusConfig, DtuConfig, Rs485Config, check_buses
from gateway.link.connection import Connection, Connector
from gateway.link.dtu_server import DtuServer
from gateway.link.errors import (
    BadReplyError,
    BusClosedError,
    BusTimeoutError,
    LinkError,
    NoRouteError,
    PortUnavailableError,
    TransportClosedError,
)
from gateway.link.priority import Priority
from gateway.link.registry import Buses, build_dtu_buses, build_line_bus
from gateway.link.serial_port import SerialConnector
from gateway.link.tcp_client import TcpConnector
from gateway.link.timing import FixedTiming, LineTiming
from gateway.link.trace import Direction, TraceEvent, TraceHook

__all__ = [
    "BadReplyError",
    "Bus",
    "BusClosedError",
    "BusConfig",
    "BusStats",
    "BusTimeoutError",
    "Buses",
    "Connection",
    "Connector",
    "Direction",
    "DtuConfig",
    "DtuServer",
    "FixedTiming",
    "LineTiming",
    "LinkError",
    "NoRouteError",
    "PortUnavailableError",
    "Priority",
    "Rs485Config",
    "SerialConnector",
    "TcpConnector",
    "TraceEvent",
    "TraceHook",
    "TransportClosedError",
    "build_dtu_buses",
    "build_line_bus",
    "check_buses",
]
