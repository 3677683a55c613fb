"""Sans-IO DL/T 645-2007 codec: bytes in, values out. No I/O, no clock."""

from gateway.dlt645.dataids import BY_NAME, TABLE, DataId, Value, decode_value, encode_value, lookup
from gateway.dlt645.deframer import Deframer
from gateway.dlt645.errors import (
    ChecksumError,
    Dlt645Error,
    ErrFlag,
    FrameError,
    MeterError,
    SecurityError,
    SerrFlag,
    ValueFormatError,
)
from gateway.dlt645.frame import Frame, Function
from gateway.dlt645.values import Quantity

__all__ = [
    "BY_NAME",
    "TABLE",
    "ChecksumError",
    "DataId",
    "Deframer",
    "Dlt645Error",
    "ErrFlag",
    "Frame",
    "FrameError",
    "Function",
    "MeterError",
    "Quantity",
    "SecurityError",
    "SerrFlag",
    "Value",
    "ValueFormatError",
    "decode_value",
    "encode_value",
    "lookup",
]
