"""A small third-party hookwire plugin used by hookwire's tests (see ``plugin``)."""
