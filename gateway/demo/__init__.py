"""Demo mode: a site with simulated meters, seeded data and the full gateway on localhost."""
