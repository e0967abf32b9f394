"""All geodata I/O of the twin: the data catalog, fetching into the cache, loaders with validation,
the OSM importer, the synthetic generators and the layer writers (GeoJSON, GeoParquet, CSV)."""
