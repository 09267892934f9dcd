"""Upload throughput: ComponentASGI's streaming multipart reader against Starlette's
``UploadFile``, both under a real uvicorn (``python -m benchmarks.uploads``)."""
