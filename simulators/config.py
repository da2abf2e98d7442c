"""What a simulation run is made of: the city's shape, rates of misbehaviour, and presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from devices.protocol import DEFAULT_TOPIC_ROOT


class ConnectionMode(StrEnum):
    """How the fleet reaches the broker (docs/protocol.md, Topics)."""

    GATEWAY = "gateway"  # one connection per site, publishing `<site>/batch`
    DEVICE = "device"  # one connection per item, item topics, a last will each
    POOL = "pool"  # a bounded pool of shared connections, item topics, no wills


@dataclass(frozen=True, slots=True)
class CityShape:
    """A city to generate: districts by administrative code, sites in each, items at each site."""

    districts: tuple[str, ...]
    sites_per_district: int
    items_per_site: int

    @property
    def items(self) -> int:
        return len(self.districts) * self.sites_per_district * self.items_per_site

    def __post_init__(self) -> None:
        if not self.districts:
            raise ValueError("a city needs at least one district")
        if not 1 <= self.sites_per_district <= 9999:
            raise ValueError(f"sites per district must be 1-9999, got {self.sites_per_district}")
        # item 999 stays free at every site: bad messages use it as an unknown code
        if not 1 <= self.items_per_site <= 998:
            raise ValueError(f"items per site must be 1-998, got {self.items_per_site}")


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """The network as it is. Every rate is configurable; zero turns a behaviour off."""

    offline_per_day: float = 0.1  # chance per item and day that its link drops
    offline_median_s: float = 900.0  # log-normal length of an offline period
    reboot_per_day: float = 0.02  # chance per item and day of a restart (new boot counter)
    duplicate_share: float = 0.01  # share of messages sent a second time, byte for byte
    skewed_share: float = 0.2  # share of items whose clock is off by up to max_skew_s
    max_skew_s: float = 90.0  # stays well inside the 5 minutes ingest allows ahead
    out_of_order_share: float = 0.5  # share of reconnect flushes sent in shuffled order
    bad_share: float = 0.002  # extra malformed messages, per good message, in all the ways

    def __post_init__(self) -> None:
        for name in ("duplicate_share", "skewed_share", "out_of_order_share", "bad_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a share and must be 0-1, got {value}")
        if not 0.0 <= self.max_skew_s <= 240.0:
            raise ValueError(
                f"max_skew_s must be 0-240 (ingest refuses > 300 s ahead), got {self.max_skew_s}"
            )


@dataclass(frozen=True, slots=True)
class SimConfig:
    """All that shapes the ledger (with the city and the start time), plus delivery options."""

    seed: int = 1
    heartbeat_s: int = 300
    tick_s: int = 600  # activity is drawn per tick; must divide an hour
    usage_scale: float = 1.0  # multiplies sessions per item and day
    wear_scale: float = 1.0  # multiplies fault hazards
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    connection: ConnectionMode = ConnectionMode.GATEWAY
    pool_size: int = 4
    batch_window_s: float = 60.0  # a gateway collects a site's messages this long at most
    batch_max_items: int = 100
    topic_root: str = DEFAULT_TOPIC_ROOT

    def __post_init__(self) -> None:
        if self.tick_s <= 0 or 3600 % self.tick_s:
            raise ValueError(f"tick_s must divide 3600, got {self.tick_s}")
        if not 10 <= self.heartbeat_s <= 86_400:
            raise ValueError(f"heartbeat_s must be 10-86400, got {self.heartbeat_s}")
        if self.pool_size < 1 or self.batch_max_items < 1 or self.batch_window_s < 0:
            raise ValueError("pool_size and batch_max_items must be >= 1, batch_window_s >= 0")


@dataclass(frozen=True, slots=True)
class Preset:
    city: CityShape
    config: SimConfig
    description: str


_NANJING = (
    "320102",
    "320104",
    "320105",
    "320106",
    "320111",
    "320113",
    "320114",
    "320115",
    "320116",
    "320117",
    "320118",
)
_BEIJING = (
    "110101",
    "110102",
    "110105",
    "110106",
    "110107",
    "110108",
    "110109",
    "110111",
    "110112",
)

PRESETS: dict[str, Preset] = {
    "small": Preset(
        CityShape(("320705", "320706"), 10, 12),
        SimConfig(heartbeat_s=900, connection=ConnectionMode.DEVICE),
        "240 items in 2 districts, one connection per item: for tests and demos",
    ),
    "city": Preset(
        CityShape(_NANJING[:8], 60, 10),
        SimConfig(heartbeat_s=600),
        "4,800 items in 8 districts of Nanjing behind site gateways: a month loads in minutes",
    ),
    "stress": Preset(
        CityShape(_NANJING + _BEIJING, 500, 10),
        SimConfig(heartbeat_s=300),
        "100,000 items in 20 districts behind 10,000 site gateways",
    ),
}
