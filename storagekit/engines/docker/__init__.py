"""Docker: layerdb, imagedb, containers, volumes, the pre-1.10 graph/ layout."""
