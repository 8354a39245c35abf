"""Outgoing HTTP, logging, metrics."""
