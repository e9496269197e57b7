//! Fuzz targets; corpora replay as ordinary tests on stable.
