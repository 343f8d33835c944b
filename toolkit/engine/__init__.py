"""tk engine package."""
