"""One release as plain data and decisions: the steps' records, their decisions, verify and rollback."""
