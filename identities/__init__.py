"""Identity-provider accounts and their links to endpoint users."""
