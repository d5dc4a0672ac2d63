"""Proxima: an AI agent for quantum circuit simulation.

The deterministic core is a plain library. Heavy simulator libraries are imported lazily, where they are used.
"""

from proxima_agent.errors import ProximaError

__version__ = "0.1.0"

__all__ = ["ProximaError", "__version__"]
