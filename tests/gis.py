"""Whether GeoDjango's C libraries (GDAL, GEOS) are installed on this machine.

Checked with ``ctypes.util.find_library`` because importing ``django.contrib.gis.gdal`` would read
Django settings while they are still loading.
"""

from __future__ import annotations

from ctypes.util import find_library

GIS_AVAILABLE = bool(find_library("gdal") and find_library("geos_c"))
SPATIALITE_AVAILABLE = GIS_AVAILABLE and bool(find_library("spatialite"))


def _python_sqlite_loads_extensions() -> bool:
    import sqlite3

    return hasattr(sqlite3.connect(":memory:"), "enable_load_extension")


#: Django's SpatiaLite backend needs a Python whose sqlite3 module can load extensions
#: (Debian's python3 can; pyenv builds usually cannot).
DJANGO_SPATIALITE_AVAILABLE = SPATIALITE_AVAILABLE and _python_sqlite_loads_extensions()
