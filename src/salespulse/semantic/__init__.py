"""The semantic layer: every KPI declared once, compiled to Ibis expressions.

CLI, HTTP API, web pages and reports all ask :func:`salespulse.semantic.query.run`;
nothing else computes KPI math.
"""
