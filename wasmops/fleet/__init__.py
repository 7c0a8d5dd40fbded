"""Beyond one host: the agent beside each host that pulls its slice of Git, and the fleet's status."""
