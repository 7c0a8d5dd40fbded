"""The Wasm runtime host: serves deployed modules under limits, with an admin API and metrics.

``wasmops host --port 8700`` runs it. The pieces: ``state`` (persistent live state),
``admission`` (pull, digest, signature, policy), ``runtime`` (live modules, invoke),
``metrics`` (Prometheus), ``server`` (HTTP), ``client`` (what other commands use to talk to it).
"""
