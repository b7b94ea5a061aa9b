"""The build-status appliance: a lamp, a status page and a small CI on a Raspberry Pi."""

__version__ = "0.1.0"
