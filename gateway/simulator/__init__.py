"""Virtual DL/T 645 prepaid meters: the product's own stand-in for real meters.

Used by demo mode, the tests and field commissioning (``prepaid-gateway simulate``).
"""

from gateway.simulator.faults import Faults
from gateway.simulator.meter import VirtualMeter, Wallet
from gateway.simulator.profile import LoadProfile

__all__ = ["Faults", "LoadProfile", "VirtualMeter", "Wallet"]
