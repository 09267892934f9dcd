"""Adapters to optional dependencies (Litestar, Jinja2, Redis). Nothing imports this package;
each module raises an error naming the extra to install when its dependency is missing."""
