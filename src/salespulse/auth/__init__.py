"""Who may use the web app and the API: users, sessions, API tokens, the audit log."""
