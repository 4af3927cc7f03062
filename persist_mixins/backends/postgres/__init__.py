"""The PostgreSQL backend: a pure SQL compiler and plans, and one driver module per client library."""
