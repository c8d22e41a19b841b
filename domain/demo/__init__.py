"""The demo network: a few hundred believable members, their ties, circles, asks, offers,
karma and IOUs, plus Alice, Bob and Carol for README.md's first ten minutes."""
