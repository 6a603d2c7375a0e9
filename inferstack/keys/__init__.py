"""API keys made by inferstack: `isk-` + 256 random bits, shown once, stored only as an
HMAC-SHA256 under a server secret, with a tenant, scopes (endpoints, models), an expiry and
limits of their own. Kept in SQL (SQLite by default, PostgreSQL by URL for clusters)."""
