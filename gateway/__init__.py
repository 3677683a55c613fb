"""prepaid-gateway: edge gateway for prepaid electricity metering."""

__version__ = "0.1.0"
