-- A leak report names only a password: its token is found by the password's keyed hash
-- (`db::tokens::find_by_secret`), one index probe however many tokens there are.
CREATE INDEX api_tokens_secret ON api_tokens(secret_hmac);
