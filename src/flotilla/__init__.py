"""Flotilla: an Ansible kit for production Docker Swarm clusters, and its local lab."""

__version__ = "0.1.0"
