//! Keyboard only: sign in, add a token and revoke it with Tab, typing and Enter, every focused
//! control showing that it has the focus.

use super::{Browser, Options, ENTER};
use crate::helpers::{spawn_app, PASSWORD};
use sesame::domain::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_and_revokes_a_token_with_the_keyboard_alone() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let Some(mut b) = Browser::open("keyboard", &app.address, Options::DESKTOP).await else {
        return;
    };

    b.visit("/login").await;
    // The first Tab reaches the skip link, then the form.
    b.tab_to("#email").await;
    b.press("admin@acme.test").await;
    b.tab_to("#password").await;
    b.press(PASSWORD).await;
    b.press_to_navigate(ENTER).await;
    b.expect_path("/dashboard").await;

    b.tab_to("main a[href='/tokens/new']").await;
    b.press_to_navigate(ENTER).await;
    b.expect_path("/tokens/new").await;
    b.tab_to("#name").await;
    b.press("Keyboard token").await;
    b.tab_to("#allowed_ips").await;
    b.press("192.0.2.0/24").await;
    b.tab_to("#token-form button[type=submit]").await;
    b.press_to_navigate(ENTER).await;
    assert!(b.text("h1").await.contains("Token created"));
    b.check_page("credentials").await;

    b.tab_to("#token-page-link").await;
    b.press_to_navigate(ENTER).await;
    b.tab_to("#revoke summary").await;
    b.press(ENTER).await;
    b.tab_to("#confirm-revoke").await;
    b.press_to_navigate(ENTER).await;
    b.expect_path("/tokens/inactive").await;
    assert!(b.text("main").await.contains("Keyboard token"));
    b.check_page("inactive").await;
    b.close().await;
}
