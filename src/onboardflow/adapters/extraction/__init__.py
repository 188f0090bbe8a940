"""The menu and branding extraction service."""
