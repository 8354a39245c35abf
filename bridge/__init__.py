"""bridge: turns partner credentials into Firebase identities."""

__version__ = "0.1.0"
