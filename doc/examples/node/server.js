// A server using apikey.js, with node:http only (no framework): run it
// with the PG* variables of your database and PORT, then
//   curl -H 'x-api-key: ak_live_...' localhost:$PORT/hello
'use strict';
const http = require('node:http');
const { Pool } = require('pg');
const { apikey } = require('./apikey');

const pool = new Pool({ max: 10 });
const check = apikey(pool);

const server = http.createServer((req, res) => {
  check(req, res, (err) => {
    if (err) {
      res.statusCode = 500;
      res.end('error\n');
      return;
    }
    if (req.url === '/boom') {
      res.statusCode = 500;
      res.end('boom\n');
      return;
    }
    res.end(`hello ${req.apikeyOwner ?? 'anonymous'}\n`);
  });
});

server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
