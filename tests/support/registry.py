"""Session fixture ``registry``: a real CNCF distribution (Debian docker-registry) on 127.0.0.1.

Filled in by the OCI work; see tests/oci/.
"""
import pytest


@pytest.fixture(scope="session")
def registry():
    pytest.fail("registry fixture not implemented yet")
