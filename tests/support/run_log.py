"""A stand-in for a Prefect run logger that keeps what was logged (for tasks called with ``.fn``)."""


class RecordingLog:
    def __init__(self):
        self.lines = []

    def warning(self, msg, *a):
        self.lines.append(msg % a if a else msg)

    info = debug = error = warning
