"""The marketplace: help requests and the offers of help made on them."""
