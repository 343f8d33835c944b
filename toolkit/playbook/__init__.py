"""tk playbook package."""
