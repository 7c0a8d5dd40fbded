"""The supply chain: a module's source, build, tests, capability policy, signature and OCI artifact."""
