//! The account's token policy (`/settings`): the longest lifetime, which Add Token and Renew
//! enforce with a 422, and which the form's choices and recommendation follow.

use crate::helpers::*;
use reqwest::StatusCode;

async fn set_policy(app: &TestApp, session: &Session, days: &str) -> reqwest::Response {
    app.post(session, "/settings", &[("max_lifetime_days", days)])
        .await
}

fn policy_changes(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'account.policy_changed'")
}

crate::both_backends! {
#[tokio::test]
async fn the_longest_lifetime_is_enforced_by_add_token_and_renew() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    let page = app.get_html(&cast.admin, "/settings").await;
    assert!(page.contains("name=\"max_lifetime_days\""), "{page}");
    assert!(page.contains("value=\"365\""), "the default: {page}");
    let form = app.get_html(&cast.admin, "/tokens/new").await;
    assert!(form.contains("value=\"365d\"") && form.contains("id=\"expiry-warning\""));
    assert!(element_text(&form, "lifetime-policy").unwrap().contains("at most 365 days; we recommend at most 3 months"));

    let saved = set_policy(&app, &cast.admin, "45").await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), "/settings");
    assert_eq!(policy_changes(&app), 1);
    let page = app.get_html(&cast.admin, "/settings").await;
    assert!(page.contains("value=\"45\"") && page.contains("New tokens now live at most 45 days."));

    // The form offers only what the policy allows, and says so; the 3-month warning is moot.
    let form = app.get_html(&cast.admin, "/tokens/new").await;
    assert!(form.contains("value=\"30d\"") && !form.contains("value=\"60d\"") && !form.contains("value=\"365d\""));
    assert!(!form.contains("id=\"expiry-warning\""));
    assert_eq!(element_text(&form, "lifetime-policy").unwrap(), "This account allows tokens of at most 45 days.");
    let max_date = (chrono::Utc::now().date_naive() + chrono::Duration::days(45)).to_string();
    assert!(form.contains(&format!("max=\"{max_date}\"")), "{form}");

    // A longer preset or date, typed by hand: 422 with the reason, nothing created.
    let before = app.count("SELECT COUNT(*) AS n FROM api_tokens");
    let too_long = app.post(&cast.admin, "/tokens", &[("name", "Long"), ("expires_in", "90d")]).await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.text().await.unwrap().contains("This account allows tokens of at most 45 days"));
    let late = (chrono::Utc::now().date_naive() + chrono::Duration::days(46)).to_string();
    let too_late = app
        .post(&cast.admin, "/tokens", &[("name", "Late"), ("expires_in", "custom"), ("expires_on", &late)])
        .await;
    assert_eq!(too_late.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_late.text().await.unwrap().contains("at most 45 days from today"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_tokens"), before);
    let within = app.create_token(&cast.admin, &[("name", "Within"), ("expires_in", "30d")]).await;

    // Renew: the same limit.
    let renew_form = app.get_html(&cast.admin, &format!("/tokens/{}/renew", within.id)).await;
    assert!(!renew_form.contains("value=\"60d\""));
    let renewed = app
        .post(&cast.admin, "/tokens", &[("name", "Within"), ("expires_in", "180d"), ("renews", &within.id), ("revoke_old", "keep")])
        .await;
    assert_eq!(renewed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_tokens"), before + 1);

    // Another account keeps its own policy.
    let other = app.get_html(&cast.other_admin, "/tokens/new").await;
    assert!(other.contains("value=\"365d\""));
}

#[tokio::test]
async fn the_policy_takes_a_whole_number_of_days_from_admins_only() {
    let app = spawn_app().await;
    let cast = app.cast().await;
    for bad in ["0", "366", "-5", "abc", "", "30.5", "1e2"] {
        let refused = set_policy(&app, &cast.admin, bad).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let page = refused.text().await.unwrap();
        assert!(element_text(&page, "settings-error").unwrap().contains("from 1 to 365"), "{bad:?}");
    }
    assert_eq!(policy_changes(&app), 0);
    for session in [&cast.support, &cast.member] {
        assert_eq!(app.get(session, "/settings").await.status(), StatusCode::FORBIDDEN);
    }
    let forbidden = cast
        .support
        .client
        .post(app.url("/settings"))
        .form(&[("csrf_token", app.csrf(&cast.support).await.as_str()), ("max_lifetime_days", "365")])
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    // Saving the same value records nothing.
    assert_eq!(set_policy(&app, &cast.admin, "365").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(policy_changes(&app), 0);
    assert!(app.get_html(&cast.admin, "/dashboard").await.contains("href=\"/settings\""));
}
}

/// Loosening the policy needs a recent password, like a role change.
#[tokio::test]
async fn changing_the_policy_asks_for_a_recent_password() {
    let app = spawn_app_with(&[("SESAME_SUDO_MINUTES", "15")]).await;
    let cast = app.cast().await;
    app.clock.advance(chrono::Duration::minutes(16));
    let prompt = set_policy(&app, &cast.admin, "90").await;
    assert_eq!(prompt.status(), StatusCode::UNAUTHORIZED);
    let html = prompt.text().await.unwrap();
    let what = element_text(&html, "sudo-action").unwrap();
    assert!(
        what.starts_with("To change the account&#39;s token policy,"),
        "{what}"
    );
    assert!(
        html.contains("name=\"max_lifetime_days\" value=\"90\""),
        "the value is carried"
    );
    assert_eq!(policy_changes(&app), 0);
    let done = app
        .post(
            &cast.admin,
            "/settings",
            &[("max_lifetime_days", "90"), ("sudo_password", PASSWORD)],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(policy_changes(&app), 1);
}
