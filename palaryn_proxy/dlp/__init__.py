"""dlp engine package."""
