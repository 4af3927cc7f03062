"""Backends: one package per database, each a set of plans plus one driver module per flavour."""
