"""What `fitmon verify` found: each difference between the ledger and the store, and what was
compared."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Difference:
    check: str
    key: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.check} {self.key}: ledger {self.expected}, fitmon {self.found}"


@dataclass(frozen=True, slots=True)
class OfflineComparison:
    """Ledger offline periods fitmon could notice, and how many it marked offline in time."""

    comparable: bool  # only real-time runs: elsewhere fitmon's clock is not the fleet's
    periods: int
    noticeable: int  # long enough for a will (at once) or silence (heartbeats) to tell
    matched: int
    detect_after_s: float
    tolerance_s: float


@dataclass(slots=True)
class VerifyReport:
    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    bad_expected: int = 0
    bad_found: int = 0
    offline: OfflineComparison | None = None
    maintenance: str | None = None  # what the alerts check found, or why it did not run

    @property
    def exact(self) -> bool:
        return not self.differences

    def render(self, limit: int = 50) -> str:
        lines = [f"{name}: {count} compared" for name, count in self.checked.items()]
        lines.append(f"bad messages: {self.bad_found} of {self.bad_expected} in dead letters")
        if self.offline is not None:
            o = self.offline
            note = "" if o.comparable else " (accelerated run: informational only)"
            lines.append(
                f"offline periods: {o.periods}, {o.noticeable} long enough to notice "
                f"(>= {o.detect_after_s + o.tolerance_s:.0f} s); fitmon marked {o.matched} of "
                f"those offline within {o.tolerance_s:.0f} s{note}"
            )
        if self.maintenance is not None:
            lines.append(self.maintenance)
        lines += [str(d) for d in self.differences[:limit]]
        if len(self.differences) > limit:
            lines.append(f"... and {len(self.differences) - limit} more differences")
        lines.append(
            "EXACT: fitmon matches the ledger"
            if self.exact
            else f"{len(self.differences)} difference(s)"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:  # what wait_until shows when a test times out
        return self.render(limit=10)
