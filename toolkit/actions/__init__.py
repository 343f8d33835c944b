"""tk actions package."""
