"""Local stand-ins for the services lvmbeat talks to (tests, `make run`, benches).

Nothing here runs in production; it lives in the package so the test suite, the local
chain and the benchmarks start services the same way.
"""
