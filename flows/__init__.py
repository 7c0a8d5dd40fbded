"""Prefect flows. Each flow body only wires tasks from ``tasks/`` together."""
