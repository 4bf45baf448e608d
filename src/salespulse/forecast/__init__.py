"""Forecasting that scores itself: win probability × timing per open deal, Monte Carlo
ranges, snapshots, walk-forward backtests, forecast categories and pipeline changes.

See ``docs/forecast.md`` for every definition.
"""

from salespulse.forecast.run import METHODS, Forecast, compute

__all__ = ["METHODS", "Forecast", "compute"]
