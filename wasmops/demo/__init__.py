"""``make demo`` and the small modules it (and the tests) build: not imported by production code."""
