"""A small shop: products in SQL (SQLAlchemy), a Redis cache in front, a Starlette HTTP API.

Layers: `models` (the ORM table), `repository` (the source of truth behind a small protocol),
`cache` (the Redis cache layer and its `@cached` read path), `service` (reads and writes going
through the cache), `app` (HTTP). `planted_bugs` holds two subtle, realistic cache bugs that
the tests in ../tests show cachecheck finding.
"""
