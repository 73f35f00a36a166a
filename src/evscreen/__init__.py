"""evscreen: the backend of an electric car's infotainment screen."""

__version__ = "0.1.0"
