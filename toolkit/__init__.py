"""tk: provision fleets of Linux hosts over SSH and run containers on them with tke."""

__version__ = "0.1.0"
