"""Analyses built on the semantic layer: alerts, lead scoring, forecasts."""
