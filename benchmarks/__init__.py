"""Benchmarks of component-framework: the guide's counter event on four contenders.

Run ``python -m benchmarks.run`` (full) or ``python -m benchmarks.run --smoke`` (a short sanity
run that checks every contender's answers and never fails on timing). See docs/benchmarks.md.
"""
