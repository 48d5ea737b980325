"""The Exec endpoint agent: plain Python that runs without Django."""

__version__ = "0.1.0"
