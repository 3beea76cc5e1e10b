"""The Constellation HTTP service (Tornado). Not yet implemented: see issue "The Tornado service"."""
