SELECT bench.pl_check(:token);
