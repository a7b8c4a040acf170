"""Tests of the example plugin distribution in docs/examples/."""
