"""Realistic demo data, written through the real tracker."""
