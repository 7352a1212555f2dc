"""A hookwire plugin that cannot be imported (see ``plugin``)."""
