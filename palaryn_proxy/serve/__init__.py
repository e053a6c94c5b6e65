"""Running the proxy: server.py (the one engine module that imports mitmproxy), reload, readiness, metrics, logs.

Nothing is re-exported here, so importing this package (for metrics, say) never pulls in mitmproxy.
"""
