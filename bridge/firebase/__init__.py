"""Everything that talks to Google: service accounts, custom tokens (later sessions and users)."""
