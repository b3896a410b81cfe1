//! The ceiling for the token API benchmark: the smallest actix-web server that answers a
//! fixed 60-byte JSON body, with the same worker count as `sesame serve`.

use actix_web::{web, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"status":"ok","service":"hello","padding":"0123456789abcd"}"#;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("HELLO_BIND").unwrap_or_else(|_| "127.0.0.1:8090".into());
    HttpServer::new(|| {
        App::new().route(
            "/",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(BODY)
            }),
        )
    })
    .bind(bind)?
    .run()
    .await
}
