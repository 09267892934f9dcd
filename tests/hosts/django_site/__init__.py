"""A small Django project serving components beside its own pages (tests/hosts/test_django.py).

``settings`` (sqlite at ``$DJANGO_SITE_DATABASE``, admin, sessions, static files, a Jinja2
backend for the page), ``urls`` and ``views`` (one page rendering components), ``components``
(the components it serves), ``page_templates`` (the Jinja2 environment with the page globals)
and ``asgi`` (the application uvicorn serves).
"""
