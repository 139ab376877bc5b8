SELECT bench.check_floor(:token);
