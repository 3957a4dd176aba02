"""Reference implementations of the classic caching strategies, each with its contract."""
