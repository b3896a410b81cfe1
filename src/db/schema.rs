//! One portable schema for SQLite and PostgreSQL: Text, BigInt, Bool, Binary, UTC Timestamp.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        lock_version -> BigInt,
        audit_seq -> BigInt,
        notice_seq -> BigInt,
        max_lifetime_days -> Integer,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        account_id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        weekly_report -> Bool,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        description -> Text,
        username -> Text,
        secret_hmac -> Binary,
        secret_enc -> Binary,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        revoke_reason -> Nullable<Text>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        replaces_id -> Nullable<Text>,
        revoke_replaced_on_use -> Bool,
        expiry_reminder_queued -> Bool,
        changed_version -> BigInt,
    }
}

diesel::table! {
    token_networks (token_id, position) {
        token_id -> Text,
        position -> Integer,
        network -> Text,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        account_id -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_email -> Nullable<Text>,
        action -> Text,
        token_id -> Nullable<Text>,
        detail -> Text,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
        seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        account_id -> Nullable<Text>,
        kind -> Text,
        token_id -> Nullable<Text>,
        period -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        give_up_at -> Timestamp,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        seq -> Nullable<BigInt>,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        account_id -> Text,
        email -> Text,
        role -> Text,
        invited_by -> Nullable<Text>,
        code_hash -> Binary,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    handoffs (id) {
        id -> Text,
        token_id -> Text,
        account_id -> Text,
        code_hash -> Binary,
        expires_at -> Timestamp,
        opened_at -> Nullable<Timestamp>,
        opened_ip -> Nullable<Text>,
        sent_to -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_links (id) {
        id -> Text,
        user_id -> Text,
        purpose -> Text,
        code_hash -> Binary,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        key_hash -> Binary,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        seen_at -> Timestamp,
        expires_at -> Timestamp,
        ip -> Nullable<Text>,
        browser -> Text,
        os -> Text,
    }
}

diesel::table! {
    sign_in_devices (user_id, browser, os, ip) {
        user_id -> Text,
        browser -> Text,
        os -> Text,
        ip -> Text,
        last_at -> Timestamp,
    }
}

diesel::table! {
    token_usage (token_id, day) {
        token_id -> Text,
        account_id -> Text,
        day -> Timestamp,
        accepted -> BigInt,
        wrong_password -> BigInt,
        outside_networks -> BigInt,
        expired -> BigInt,
        revoked -> BigInt,
        throttled -> BigInt,
    }
}

diesel::table! {
    token_usage_totals (token_id) {
        token_id -> Text,
        accepted_30d -> BigInt,
        refused_30d -> BigInt,
        after_end_7d -> BigInt,
    }
}

diesel::table! {
    usage_rollup (id) {
        id -> Integer,
        day -> Timestamp,
    }
}

diesel::table! {
    weekly_reports (account_id, week) {
        account_id -> Text,
        week -> Timestamp,
        queued_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    weekly_reports,
    token_usage,
    token_usage_totals,
    usage_rollup,
    sessions,
    sign_in_devices,
    accounts,
    users,
    api_tokens,
    token_networks,
    audit_events,
    outbox,
    handoffs,
    user_links,
    invitations,
);
