"""tk cli package."""
