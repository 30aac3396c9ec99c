"""The satchel server (``pip install 'satchel[server]'``): the catalog API, the file server and tokens, over the
same catalog and object-store code as embedded mode. See docs/server.md."""
