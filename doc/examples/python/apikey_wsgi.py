"""apikey for a Python server: WSGI middleware on psycopg2.

    from apikey_wsgi import ApiKeyMiddleware
    app = ApiKeyMiddleware(app, pool)     # pool: a psycopg2.pool

Each request checks its key with apikey.check(), naming its endpoint and
method: apikey applies the scope map and the limits, and keeps the request
open.  The rate-limit headers go into the response; a refused request gets
apikey's status and code.  Once the response is sent, apikey.finish()
records its real status and latency.  The connection is held from check()
to finish(): the request counts as in flight exactly that long.
"""
import json
import time


class ApiKeyMiddleware:
    def __init__(self, app, pool, header="HTTP_X_API_KEY"):
        self.app, self.pool, self.header = app, pool, header

    def __call__(self, environ, start_response):
        started = time.monotonic()
        conn = self.pool.getconn()
        conn.autocommit = True
        status = {"code": 500}
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT allowed, status, code, owner, headers FROM apikey.check("
                    "%s, client_ip => %s, endpoint => %s, method => %s)",
                    (environ.get(self.header), environ.get("REMOTE_ADDR"),
                     environ.get("PATH_INFO") or "/", environ["REQUEST_METHOD"]))
                allowed, code_status, code, owner, headers = cur.fetchone()

            def start(line, response_headers, exc_info=None):
                status["code"] = int(line.split()[0])
                return start_response(line, response_headers + list(headers.items()), exc_info)

            if not allowed:
                start(f"{code_status} {code}", [("Content-Type", "application/json")])
                return [json.dumps({"code": code}).encode()]
            environ["apikey.owner"] = owner
            return list(self.app(environ, start))
        finally:
            with conn.cursor() as cur:
                cur.execute("SELECT apikey.finish(%s, make_interval(secs => %s))",
                            (status["code"], time.monotonic() - started))
            self.pool.putconn(conn)
