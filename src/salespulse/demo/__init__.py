"""A realistic, seeded demo data set: a Dutch manufacturer's CRM, with planted patterns.

``build`` makes the tables in memory; ``generate`` writes them into a store. See
``docs/demo-data.md``.
"""

from salespulse.demo.build import Progress, build, generate, iter_tables
from salespulse.demo.model import SCALES
from salespulse.demo.patterns import PLANTED, PlantedPatterns

__all__ = ["PLANTED", "SCALES", "PlantedPatterns", "Progress", "build", "generate", "iter_tables"]
