"""Keyfactor wire shapes <-> domain objects: versions 1 and 2, key-case folding, forms."""
