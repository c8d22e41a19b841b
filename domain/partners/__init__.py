"""Partners: apps registered by an admin, their webhook endpoints, and every delivery."""
