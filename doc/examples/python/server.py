"""A server using apikey_wsgi.py, with the standard library's wsgiref: run
it with the PG* variables of your database and PORT, then
    curl -H 'x-api-key: ak_live_...' localhost:$PORT/hello
"""
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

from psycopg2.pool import ThreadedConnectionPool

from apikey_wsgi import ApiKeyMiddleware


def hello(environ, start_response):
    if environ.get("PATH_INFO") == "/boom":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"boom\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ.get('apikey.owner') or 'anonymous'}\n".encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    pool = ThreadedConnectionPool(1, 10, "")
    server = make_server("127.0.0.1", int(os.environ.get("PORT", "8000")),
                         ApiKeyMiddleware(hello, pool), handler_class=QuietHandler)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()
