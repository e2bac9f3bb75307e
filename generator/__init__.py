"""obsgen: describe a service's telemetry once, generate every observability config from it.

This package keeps its import light on purpose: the instrumentation runtime imports the model
from here, and an application must not pull in the rendering or command-line libraries through it.
"""

__version__ = "0.1.0"
