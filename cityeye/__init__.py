"""cityeye: street cameras and drone surveys in, de-duplicated, scored city-management cases out."""

__version__ = "0.1.0"
