"""Cohort layer: data model (schemas), loading and saving, recovery derivation, simulation.

Imports no analysis module.
"""
