"""Authorization and abuse resistance, through the public API and the wire (issue 6)."""
