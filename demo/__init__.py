"""`make demo`: start the services on the embedded database, run a short scenario, print it."""
