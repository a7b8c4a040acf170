from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=200, unique=True)
    bio = models.TextField(blank=True, default="")

    class Meta:
        app_label = "testapp"


class Book(models.Model):
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    title = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateTimeField(null=True)
    cover = models.BinaryField(null=True)

    class Meta:
        app_label = "testapp"


class Note(models.Model):
    """A table that EXCLUDE/SCHEMAS tests can leave out of a backup."""

    text = models.TextField()

    class Meta:
        app_label = "testapp"
