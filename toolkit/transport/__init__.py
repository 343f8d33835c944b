"""tk transport package."""
