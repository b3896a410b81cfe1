DROP INDEX api_tokens_secret;
