"""tk agent package."""
