# The pages an admin or support user opens, as "name|path", one a line: the list that
# bench/pages.sh and bench/ab.sh both measure. Sourced; it reads $needle, $token_id,
# $ended_needle, $member, $year_ago and $today, which the caller finds first.
page_list() {
  printf '%s\n' "Dashboard|/dashboard" "API Tokens, page 1|/tokens" \
    "API Tokens, page 500|/tokens?page=500" "API Tokens, search|/tokens?q=$needle" \
    "a token page|/tokens/$token_id" "Expired & Revoked, page 1|/tokens/inactive" \
    "Expired & Revoked, page 200|/tokens/inactive?page=200" \
    "Expired & Revoked, revoked, page 100|/tokens/inactive?status=revoked&page=100" \
    "Expired & Revoked, dates|/tokens/inactive?from=$year_ago&to=$today" \
    "Expired & Revoked, creator + text|/tokens/inactive?creator=bench&q=$ended_needle" \
    "Audit, page 1|/audit" "Audit, page 2000|/audit?page=2000" \
    "Notifications, page 1|/notifications" "Notifications, page 2000|/notifications?page=2000" \
    "Users, page 1|/users" "Users, a later page|/users?after=$member"
}
