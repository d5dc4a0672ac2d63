"""`lret`: Proxima's own low-rank density-matrix simulator (rho = L L^dagger)."""

from proxima_agent.backends.lret.backend import LretBackend
from proxima_agent.backends.lret.simulator import LretOptions, LretRun

__all__ = ["LretBackend", "LretOptions", "LretRun"]
