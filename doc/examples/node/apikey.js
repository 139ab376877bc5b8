// apikey for a Node.js server: Express-style middleware on node-postgres.
//
//   const { apikey } = require('./apikey');
//   app.use(apikey(pool));            // pool: a pg.Pool
//
// Each request checks its key with apikey.check(), naming its endpoint and
// method: apikey applies the scope map and the limits, and keeps the
// request open.  The rate-limit headers go into the response; a refused
// request gets apikey's status and code.  When the response is done,
// apikey.finish() records its real status and latency.  The connection is
// held from check() to finish(): the request counts as in flight (for
// max_concurrency and apikey.max_inflight) exactly that long.
'use strict';

function apikey(pool, { header = 'x-api-key' } = {}) {
  return async function apikeyMiddleware(req, res, next) {
    const started = process.hrtime.bigint();
    let client;
    try {
      client = await pool.connect();
      const { rows: [c] } = await client.query(
        `SELECT allowed, status, code, owner, headers
           FROM apikey.check($1, client_ip => $2, endpoint => $3, method => $4)`,
        [req.headers[header] ?? null, req.socket.remoteAddress,
         new URL(req.url, 'http://localhost').pathname, req.method]);
      for (const [name, value] of Object.entries(c.headers)) res.setHeader(name, value);
      res.once('close', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        client.query('SELECT apikey.finish($1, make_interval(secs => $2))',
                     [res.statusCode, seconds])
          .catch(() => {})
          .finally(() => client.release());
      });
      if (!c.allowed) {
        res.statusCode = c.status;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ code: c.code }));
        return;
      }
      req.apikeyOwner = c.owner;
      next();
    } catch (err) {
      if (client && !res.listenerCount('close')) client.release();
      next(err);
    }
  };
}

module.exports = { apikey };
