"""enictl: a declarative reconciler for cloud elastic network interfaces (ENIs)."""

__version__ = "0.1.0"
