"""The ticket state machine, pure: which action takes a ticket from which state to which.

open ─assign→ assigned ─start→ in_progress ─resolve→ resolved ─verify→ closed
  (hold with a reason from any open state; resume returns to work; a supervisor may dismiss an
  unresolved ticket with a reason; a resolved or closed ticket may be reopened; the system closes
  a resolved ticket once its device reports normal use again)
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class TicketAction(StrEnum):
    ASSIGN = "assign"  # to a member of the crew (supervisors; reassigning too)
    START = "start"
    HOLD = "hold"  # with a reason: waiting for parts, weather, ...
    RESUME = "resume"
    RESOLVE = "resolve"
    VERIFY = "verify"  # a supervisor checks the repair and closes the ticket
    DISMISS = "dismiss"  # a supervisor closes a ticket that needs no repair, with a reason
    REOPEN = "reopen"
    AUTO_CLOSE = "auto_close"  # the system: normal use after the repair


class TransitionError(ValueError):
    def __init__(self, status: TicketStatus, action: TicketAction) -> None:
        allowed = ", ".join(sorted(a.value for a in allowed_actions(status))) or "none"
        super().__init__(
            f"a ticket that is {status.value} cannot be {_PAST[action]}; allowed: {allowed}"
        )
        self.status = status
        self.action = action


S, A = TicketStatus, TicketAction
_WORKING = (S.OPEN, S.ASSIGNED, S.IN_PROGRESS, S.ON_HOLD, S.REOPENED)
TRANSITIONS: dict[tuple[TicketStatus, TicketAction], TicketStatus] = {
    **{(s, A.ASSIGN): S.ASSIGNED for s in (S.OPEN, S.ASSIGNED, S.ON_HOLD, S.REOPENED)},
    (S.ASSIGNED, A.START): S.IN_PROGRESS,
    (S.REOPENED, A.START): S.IN_PROGRESS,
    **{(s, A.HOLD): S.ON_HOLD for s in (S.OPEN, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED)},
    (S.ON_HOLD, A.RESUME): S.IN_PROGRESS,
    (S.ASSIGNED, A.RESOLVE): S.RESOLVED,
    (S.IN_PROGRESS, A.RESOLVE): S.RESOLVED,
    (S.RESOLVED, A.VERIFY): S.CLOSED,
    **{(s, A.DISMISS): S.CLOSED for s in _WORKING},
    (S.RESOLVED, A.REOPEN): S.REOPENED,
    (S.CLOSED, A.REOPEN): S.REOPENED,
    (S.RESOLVED, A.AUTO_CLOSE): S.CLOSED,
}
NEEDS_REASON = frozenset({A.HOLD, A.DISMISS, A.REOPEN})
# What a crew member may do to a ticket of their crew; the rest is for supervisors, managers of
# the district and admins (assigning, verifying, dismissing, reopening).
CREW_ACTIONS = frozenset({A.START, A.HOLD, A.RESUME, A.RESOLVE})

_PAST = {
    A.ASSIGN: "assigned",
    A.START: "started",
    A.HOLD: "put on hold",
    A.RESUME: "resumed",
    A.RESOLVE: "resolved",
    A.VERIFY: "verified",
    A.DISMISS: "dismissed",
    A.REOPEN: "reopened",
    A.AUTO_CLOSE: "closed automatically",
}


def next_status(status: TicketStatus, action: TicketAction) -> TicketStatus:
    """The state `action` takes a ticket in `status` to; TransitionError if it may not."""
    try:
        return TRANSITIONS[status, action]
    except KeyError:
        raise TransitionError(status, action) from None


def allowed_actions(status: TicketStatus) -> set[TicketAction]:
    return {action for (source, action) in TRANSITIONS if source is status}
