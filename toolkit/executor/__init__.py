"""tk executor package."""
