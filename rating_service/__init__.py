"""Rating service: see rating_service/README.md."""
