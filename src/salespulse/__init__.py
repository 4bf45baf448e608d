"""salespulse — sales KPIs for B2B sales teams, from CRM data to dashboards."""

__version__ = "0.1.0"
