"""Settings of the maintenance service (and of the rules the API applies), from FITMON_* variables.

Every city sets its own deadlines and intervals (no national rule fixes them); the defaults are
those of DOMAIN facts: repairs within 72 hours, weekly patrols.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from db.settings import DatabaseSettings


class MaintenanceSettings(DatabaseSettings):
    # Time to repair, from the ticket's opening, by severity.
    deadline_critical_h: float = Field(default=24, gt=0)
    deadline_major_h: float = Field(default=72, gt=0)
    deadline_minor_h: float = Field(default=7 * 24, gt=0)
    # A reminder to the assignee this long before the deadline; past the deadline, an
    # escalation to the crew's supervisor, repeated this often while the ticket does not move.
    reminder_before_h: float = Field(default=4, gt=0)
    escalate_every_h: float = Field(default=12, gt=0)
    # A clear must hold this long before its alert closes (flapping is damped).
    clear_settle_s: float = Field(default=120, ge=0)
    # GB 19272: warn this long before an item's safe service life ends.
    service_life_warning_days: int = Field(default=90, ge=1)
    # "Heartbeat fine, machine broken": an online item unused for a stretch its own usage by
    # hour of week makes this unlikely (Poisson) is an alert; its history is this many weeks.
    unused_history_weeks: int = Field(default=8, ge=1, le=52)
    unused_probability: float = Field(default=0.001, gt=0, lt=1)
    # How often the time-based rules run; wake-ups for new events come at once (LISTEN).
    tick_s: float = Field(default=30, gt=0)
    # How often the dashboards' usage rollups catch up with ingest (db/rollups.py).
    rollup_refresh_s: float = Field(default=60, gt=0)
    log_format: Literal["json", "console"] = "json"

    def deadline(self, severity: str) -> timedelta:
        hours = {
            "critical": self.deadline_critical_h,
            "major": self.deadline_major_h,
            "minor": self.deadline_minor_h,
        }[severity]
        return timedelta(hours=hours)
