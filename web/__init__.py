"""The local web UI and JSON API for site staff (aiohttp, Jinja2, no CDN).

``create_app`` in :mod:`web.app` builds the application; :mod:`web.server` listens (HTTPS, with a
plain-HTTP port that only redirects). Every route is declared once in a route table
(:mod:`web.routes`) with the permission it needs; the security middleware, the menu and the
OpenAPI document are all derived from that table.
"""
