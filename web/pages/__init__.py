"""Page and API handlers, one module per menu function; each exports ``routes``."""
