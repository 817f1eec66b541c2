"""The subscription center: topics and channels, and people's choices among them."""
