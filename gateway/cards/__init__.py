"""IC cards: the card format (format), the reader service (reader), the meter's side (meter_rules).

Layers, bottom up: keys (site key, MACs) and format (cards <-> bytes) are pure; pcsc (blocking
pyscard), media (where the files live on CPU and SLE4442 cards) and statgrid (read-only State Grid
cards) talk to the reader; session (one blocking operation per connection), reader (the asyncio
service) and monitor (insert/remove events) sit on top. meter_rules is the meter's behaviour as
a pure function and meter_slot runs it on a reader, for the simulator.
"""

from gateway.cards.config import CardReaderConfig
from gateway.cards.errors import CardError
from gateway.cards.format import (
    CardContent,
    CardType,
    IssueCard,
    MeterChangeCard,
    MeterOutcome,
    MeterStatus,
    QueryCard,
    RefundCard,
    RelayCard,
    RelayCommand,
    ResetCard,
    ReturnArea,
    SettingsCard,
    UserCard,
    UserCardKind,
)
from gateway.cards.keys import SiteKey, derive_site_key, load_site_key
from gateway.cards.meter_rules import CardApplication, MeterCardState, apply_card
from gateway.cards.monitor import CardEvent, CardMonitor
from gateway.cards.reader import CardReaderService
from gateway.cards.session import CardRead

__all__ = [
    "CardApplication",
    "CardContent",
    "CardError",
    "CardEvent",
    "CardMonitor",
    "CardRead",
    "CardReaderConfig",
    "CardReaderService",
    "CardType",
    "IssueCard",
    "MeterCardState",
    "MeterChangeCard",
    "MeterOutcome",
    "MeterStatus",
    "QueryCard",
    "RefundCard",
    "RelayCard",
    "RelayCommand",
    "ResetCard",
    "ReturnArea",
    "SettingsCard",
    "SiteKey",
    "UserCard",
    "UserCardKind",
    "apply_card",
    "derive_site_key",
    "load_site_key",
]
