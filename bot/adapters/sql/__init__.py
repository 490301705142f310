"""Work orders in SQL (SQLite by default, PostgreSQL by URL): the engine, the table, the repository."""
