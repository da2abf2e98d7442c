"""What every fitmon process shares at run time, whatever it does: its logging, its stop."""
