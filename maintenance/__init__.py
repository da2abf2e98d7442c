"""The maintenance loop: faults and silence become alerts, alerts become tickets with deadlines,
overdue work is reminded and escalated; its own process, `fitmon maintenance`."""
