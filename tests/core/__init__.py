"""Unit tests of the component core: binding, model, registry, settings and dispatch."""
