"""The replay server (HTTP + WebSocket over recorded captures) and the scenario generator.

Importing this package imports no server library: ``scenario`` is usable without aiohttp.
"""
