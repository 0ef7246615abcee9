"""Tests of the Sunvec Connect cloud simulator."""
