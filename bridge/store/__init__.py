"""MongoDB: the only code that touches collections."""
