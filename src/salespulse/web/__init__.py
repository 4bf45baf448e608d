"""The web app: server-rendered dashboards (Jinja2 + Plotly) and the JSON API (FastAPI)."""
