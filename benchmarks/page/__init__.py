"""The page-connection benchmark: ``python -m benchmarks.page [--smoke]``.

The same streaming components served over one page connection per page (``POST
/components/_page/``) and over one connection per component, through a real uvicorn on
loopback: server CPU per frame, wire bytes per frame, and server memory per open page.
"""
