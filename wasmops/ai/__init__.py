"""The statistical release judge and AI verdicts on telemetry (the trained models live in ``models/``)."""
