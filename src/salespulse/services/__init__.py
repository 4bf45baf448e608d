"""Use-cases shared by the web app, its JSON API and the CLI.

Each dashboard page has one page-data function in :mod:`salespulse.services.pages`; it asks
the semantic layer (:func:`salespulse.semantic.query.run`) for every figure and returns a
:class:`~salespulse.services.models.PageData`. The HTML page and the ``/api/pages/…`` endpoint
render the same object. No KPI is computed here: these modules choose queries, not formulas.
"""
