"""Survival layer: time to recovery (curves, tests, Cox, interval-censored models, cure, competing events).

Imports the cohort layer, never the report layer.
"""
