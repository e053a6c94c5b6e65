"""providers engine package."""
