"""The image CDN."""
