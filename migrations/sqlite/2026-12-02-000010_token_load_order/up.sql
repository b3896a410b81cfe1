-- The first load of an account's tokens into memory reads them in chunks, in
-- (changed_version, id) order (`db::tokens::listed_since`): the id makes every chunk's start
-- an exact index position, however many tokens share a version (a seed's do).
DROP INDEX api_tokens_changed;
CREATE INDEX api_tokens_changed ON api_tokens(account_id, changed_version, id);
