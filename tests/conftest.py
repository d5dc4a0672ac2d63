"""Shared fixtures: an isolated home for every test, and the backend ids to parametrize over."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

BACKEND_IDS = ("cirq-sv", "cirq-dm", "aer-sv", "aer-dm", "lret")
DENSITY_BACKEND_IDS = ("cirq-dm", "aer-dm")
STATEVECTOR_BACKEND_IDS = ("cirq-sv", "aer-sv")

# Modest example counts and no deadline: simulator libraries make single examples slow on a cold start.
settings.register_profile(
    "proxima", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("proxima")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point every place Proxima reads or writes user files at a fresh temporary folder (apart from the test's
    own tmp_path, so tests that inspect tmp_path see only what they wrote there)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PROXIMA_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("PROXIMA_CONFIG", raising=False)
    return home


@pytest.fixture(params=BACKEND_IDS)
def backend_id(request) -> str:
    """Each backend in turn: the four library backends and lret."""
    return request.param


@pytest.fixture(params=DENSITY_BACKEND_IDS)
def density_backend_id(request) -> str:
    return request.param


@pytest.fixture(params=STATEVECTOR_BACKEND_IDS)
def statevector_backend_id(request) -> str:
    return request.param
