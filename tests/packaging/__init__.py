"""Packaging: the built wheels and sdists, installed outside the source tree."""
