//! Two Chromium profiles signed in as one admin: each sees both sessions, one signs the
//! other out from the Sessions page, and signing out ends only the browser that does it;
//! on the phone, Your account turns the weekly report off, and signing in after a signed-out
//! visit leads back to the page visited.

use super::{Browser, Options};
use crate::helpers::{sign_in_for, spawn_app, PASSWORD};
use sesame::domain::Role;

async fn sign_in(b: &Browser) {
    b.visit("/login").await;
    b.fill("#email", "admin@acme.test").await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.expect_path("/dashboard").await;
}

async fn rows(b: &Browser) -> i64 {
    b.script("return document.querySelectorAll('#sessions tbody tr').length")
        .await
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_see_and_end_each_others_sessions() {
    let app = spawn_app().await;
    app.add_user("Acme", "admin@acme.test", Role::Admin);
    let Some(mut laptop) = Browser::open("sessions-laptop", &app.address, Options::DESKTOP).await
    else {
        return;
    };
    let mut phone = Browser::open("sessions-phone", &app.address, Options::MOBILE)
        .await
        .expect("the browser opened before");
    sign_in(&laptop).await;
    sign_in(&phone).await;

    // From the header, to the list: both sessions, this one marked.
    laptop.click("header a[href='/sessions']").await;
    laptop.expect_path("/sessions").await;
    assert_eq!(rows(&laptop).await, 2);
    let marked = laptop.text("#this-browser").await;
    assert!(marked.eq_ignore_ascii_case("This browser"), "{marked}");
    laptop.check_page("sessions").await;

    // Your account, from the e-mail address in the header: the weekly report turned off.
    phone.click("header a[href='/account']").await;
    phone.expect_path("/account").await;
    phone.check_page("account").await;
    assert!(phone
        .script("return document.querySelector('#weekly-report').checked")
        .await
        .as_bool()
        .unwrap());
    phone.tap("#weekly-report").await;
    phone.click("#weekly-report-form button[type=submit]").await;
    phone.expect_path("/account").await;
    assert!(phone
        .text(".flash")
        .await
        .contains("no longer get the weekly token report"));
    assert!(!phone
        .script("return document.querySelector('#weekly-report').checked")
        .await
        .as_bool()
        .unwrap());

    // The laptop signs the phone out; the phone's next click lands on the sign-in page.
    laptop
        .click("#sessions form[action$='/end'] button[type=submit]")
        .await;
    laptop.expect_path("/sessions").await;
    assert!(laptop.text(".flash").await.contains("signed out"));
    assert_eq!(rows(&laptop).await, 1);
    phone.visit("/dashboard").await;
    phone.expect_path(&sign_in_for("/dashboard")).await;

    // Back in, then every other session at once.
    sign_in(&phone).await;
    laptop.visit("/sessions").await;
    laptop.click("#end-others button[type=submit]").await;
    laptop.expect_path("/sessions").await;
    phone.visit("/tokens").await;
    phone.expect_path(&sign_in_for("/tokens")).await;

    // Signing in there leads back to where the phone was going.
    phone.fill("#email", "admin@acme.test").await;
    phone.fill("#password", PASSWORD).await;
    phone
        .click("form[action='/login'] button[type=submit]")
        .await;
    phone.expect_path("/tokens").await;

    // Signing out ends this browser's session only.
    laptop
        .click("form[action='/logout'] button[type=submit]")
        .await;
    laptop.expect_path("/login").await;
    laptop.visit("/dashboard").await;
    laptop.expect_path(&sign_in_for("/dashboard")).await;
    phone.visit("/sessions").await;
    phone.expect_path("/sessions").await;
    assert_eq!(rows(&phone).await, 1);
    phone.close().await;
    laptop.close().await;
}
