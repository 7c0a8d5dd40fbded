"""Git as the desired state: manifests, the repository, plans, reconcile, quarantine and decision records."""
