"""Sessions, CSRF, login throttling, TLS certificates and the middleware that enforces them."""
