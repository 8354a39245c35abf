"""Use cases: logins, accounts, admin, notifications."""
