"""The canonical CRM model (schema, migrations) and the database that holds it."""
