"""Administration: verify that users exist alike in MongoDB and Firebase, act on them, audit it."""
