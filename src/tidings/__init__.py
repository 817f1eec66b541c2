"""Tidings: a self-hosted customer messaging platform that speaks the Customer.io APIs."""

__version__ = "0.1.0"
