"""The meter driver: typed reads, writes, relay, time sync and meter-wallet purchases."""

from gateway.meters.driver import (
    MeterDriver,
    RelayResult,
    WalletState,
    broadcast_time,
    read_address,
)
from gateway.meters.errors import (
    InvalidRequestError,
    MacUnavailableError,
    MeterDriverError,
    MeterRefusedError,
    ReadbackMismatchError,
    RechargeOutcomeUnknownError,
    RechargeRefusedError,
)
from gateway.meters.mac import (
    DummyMac,
    EncryptionMachineMac,
    MacProvider,
    MacProviderConfig,
    SoftwareKeyMac,
    build_mac_providers,
)
from gateway.meters.profile import DEFAULT_PROFILE, MeterProfile
from gateway.meters.purchase import RechargeOutcome
from gateway.meters.relay_state import RelayState

__all__ = [
    "DEFAULT_PROFILE",
    "DummyMac",
    "EncryptionMachineMac",
    "InvalidRequestError",
    "MacProvider",
    "MacProviderConfig",
    "MacUnavailableError",
    "MeterDriver",
    "MeterDriverError",
    "MeterProfile",
    "MeterRefusedError",
    "ReadbackMismatchError",
    "RechargeOutcome",
    "RechargeOutcomeUnknownError",
    "RechargeRefusedError",
    "RelayResult",
    "RelayState",
    "SoftwareKeyMac",
    "WalletState",
    "broadcast_time",
    "build_mac_providers",
    "read_address",
]
