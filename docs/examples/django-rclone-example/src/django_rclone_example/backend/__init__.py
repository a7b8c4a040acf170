"""The Acme database backend: ``ENGINE = "django_rclone_example.backend"`` (see ``base.py``)."""
