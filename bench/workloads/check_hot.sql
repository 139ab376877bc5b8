SELECT apikey.check(:token);
