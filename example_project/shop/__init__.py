"""A small shop: users, products and orders over an in-memory store.

Built by delegation: see ../delegation.yaml for who wrote which file.
"""

from __future__ import annotations


__version__ = "1.0.0"
