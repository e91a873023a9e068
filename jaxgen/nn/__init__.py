"""Shared Linen building blocks."""
