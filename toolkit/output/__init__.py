"""tk output package."""
