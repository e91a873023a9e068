"""Shared by the grid25 trilemma configs: the import of ../_start.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _start import starting_point  # noqa: E402,F401
