//! Static files, embedded in the binary and served under content-hashed names, so they can
//! be cached for a year and still change on upgrade.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

pub struct Asset {
    pub url: String,
    content_type: &'static str,
    body: &'static [u8],
}

fn asset(stem: &str, extension: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let digest = hex::encode(Sha256::digest(body));
    Asset {
        url: format!("/static/{stem}-{}.{extension}", &digest[..12]),
        content_type,
        body,
    }
}

pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../static/css/app.css"),
    )
});
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/js/app.js"),
    )
});

pub async fn serve(name: web::Path<String>) -> HttpResponse {
    let wanted = format!("/static/{name}");
    match [&*CSS, &*JS].into_iter().find(|a| a.url == wanted) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .content_type("text/plain")
            .body("not found"),
    }
}
