"""The service layer: database backup/restore, retention and media sync. Commands and the Python
API (``django_rclone.backup`` and friends) both call these."""
